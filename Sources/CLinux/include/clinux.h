#ifndef CLINUX_H
#define CLINUX_H

// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
// is built without. The definitions (clinux.c) include the real headers.

/// syncfs(2): commit every dirty page and inode of the filesystem holding `fd`.
int clinux_syncfs(int fd);

#endif
