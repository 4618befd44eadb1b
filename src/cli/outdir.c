#include "outdir.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outdir_open(outdir *o, const char *dir)
{
    memset(o, 0, sizeof *o);
    if (strlen(dir) >= sizeof o->dir - 64) return cli_fail(EXIT_USAGE, "output folder name is too long");
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return cli_fail(EXIT_USAGE, "--out '%s' exists and is not a folder", dir);
    } else {
        if (mkdir(dir, 0777)) return cli_fail(EXIT_INPUT, "cannot create output folder '%s': %s", dir, strerror(errno));
        o->created_dir = 1;
    }
    snprintf(o->stage, sizeof o->stage, "%s/.contrastcam-staging-%ld", dir, (long)getpid());
    if (mkdir(o->stage, 0777)) {
        int e = errno;
        if (o->created_dir) rmdir(dir);
        return cli_fail(EXIT_INPUT, "cannot write into output folder '%s': %s", dir, strerror(e));
    }
    return 0;
}

const char *outdir_path(outdir *o, const char *name, char *buf, int buflen)
{
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 16;
        char **nn = realloc(o->names, sizeof *nn * (size_t)cap);
        if (!nn) return NULL;
        o->names = nn;
        o->cap = cap;
    }
    if (!(o->names[o->n] = strdup(name))) return NULL;
    o->n++;
    snprintf(buf, (size_t)buflen, "%s/%s", o->stage, name);
    return buf;
}

static void cleanup(outdir *o)
{
    char p[4096];
    for (int i = 0; i < o->n; i++) {
        snprintf(p, sizeof p, "%s/%s", o->stage, o->names[i]);
        unlink(p);
        free(o->names[i]);
    }
    free(o->names);
    o->names = NULL;
    o->n = 0;
    rmdir(o->stage);
}

int outdir_commit(outdir *o)
{
    char from[4096], to[4096];
    for (int i = 0; i < o->n; i++) {
        snprintf(from, sizeof from, "%s/%s", o->stage, o->names[i]);
        snprintf(to, sizeof to, "%s/%s", o->dir, o->names[i]);
        if (rename(from, to)) {
            int e = errno;
            for (int j = 0; j < i; j++) {   /* roll back what was moved */
                snprintf(from, sizeof from, "%s/%s", o->stage, o->names[j]);
                snprintf(to, sizeof to, "%s/%s", o->dir, o->names[j]);
                rename(to, from);
            }
            outdir_abort(o);
            return cli_fail(EXIT_INPUT, "cannot move '%s' into place: %s", to, strerror(e));
        }
    }
    for (int i = 0; i < o->n; i++) free(o->names[i]);
    o->n = 0;
    free(o->names);
    o->names = NULL;
    rmdir(o->stage);
    return 0;
}

void outdir_abort(outdir *o)
{
    cleanup(o);
    if (o->created_dir) rmdir(o->dir);
}
