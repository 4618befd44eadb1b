/* All-or-nothing output: files are written into a staging folder inside the
 * output folder and moved into place only when every one was written. */
#ifndef CC_OUTDIR_H
#define CC_OUTDIR_H
typedef struct outdir {
    char dir[2048], stage[2200];
    int created_dir;
    char **names;
    int n, cap;
} outdir;

int outdir_open(outdir *o, const char *dir);                   /* 0 or exit code (message printed) */
/* Path for a new file in the staging folder; remembers the name. */
const char *outdir_path(outdir *o, const char *name, char *buf, int buflen);
int outdir_commit(outdir *o);                                  /* moves files in; 0 or exit code */
void outdir_abort(outdir *o);                                  /* removes everything staged */
#endif
