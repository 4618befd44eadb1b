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

/* Moves every staged file into place.  A file of the same name already in the
 * folder is first moved aside into the staging folder, so that a failure part
 * way through can put back both the new files and the old ones: the folder
 * is then exactly as it was.  Names taken by something that is not a regular
 * file (a folder, say) are refused before anything is moved. */
int outdir_commit(outdir *o)
{
    char from[4096], to[4096], bak[4096];
    struct stat st;
    for (int i = 0; i < o->n; i++) {
        snprintf(to, sizeof to, "%s/%s", o->dir, o->names[i]);
        if (lstat(to, &st) == 0 && !S_ISREG(st.st_mode)) {
            outdir_abort(o);
            return cli_fail(EXIT_INPUT, "cannot write '%s': something that is not a regular file (a folder?) has that name; nothing was written", to);
        }
    }
    unsigned char *backed = calloc((size_t)o->n + 1, 1);
    if (!backed) { outdir_abort(o); return cli_fail(EXIT_INTERNAL, "out of memory"); }
    int failed_at = -1, err = 0;
    for (int i = 0; i < o->n && failed_at < 0; i++) {
        snprintf(from, sizeof from, "%s/%s", o->stage, o->names[i]);
        snprintf(to, sizeof to, "%s/%s", o->dir, o->names[i]);
        snprintf(bak, sizeof bak, "%s/.old-%s", o->stage, o->names[i]);
        if (lstat(to, &st) == 0) {
            if (rename(to, bak)) { err = errno; failed_at = i; break; }
            backed[i] = 1;
        }
        if (rename(from, to)) { err = errno; failed_at = i; }
    }
    if (failed_at >= 0) {
        for (int j = failed_at; j >= 0; j--) {   /* roll back: new files out, old files in */
            snprintf(from, sizeof from, "%s/%s", o->stage, o->names[j]);
            snprintf(to, sizeof to, "%s/%s", o->dir, o->names[j]);
            snprintf(bak, sizeof bak, "%s/.old-%s", o->stage, o->names[j]);
            if (j < failed_at) rename(to, from);
            if (backed[j]) rename(bak, to);
        }
        free(backed);
        snprintf(to, sizeof to, "%s/%s", o->dir, o->names[failed_at]);
        outdir_abort(o);
        return cli_fail(EXIT_INPUT, "cannot move '%s' into place: %s; the output folder was left as it was", to, strerror(err));
    }
    for (int i = 0; i < o->n; i++) {
        if (backed[i]) {
            snprintf(bak, sizeof bak, "%s/.old-%s", o->stage, o->names[i]);
            unlink(bak);
        }
        free(o->names[i]);
    }
    free(backed);
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
