#ifndef CLINUX_H
#define CLINUX_H

// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
// is built without. The definitions (clinux.c) include the real headers.

/// syncfs(2): commit every dirty page and inode of the filesystem holding `fd`.
int clinux_syncfs(int fd);

/// Whether process (or thread) `pid` still has an address space, asked without a file
/// descriptor (process_vm_readv(2)): 1 it has, 0 it has none (it is exiting, a zombie, or
/// gone), -1 unknown (errno says why).
int clinux_has_address_space(int pid);

/// posix_spawn file actions glibc 2.34 and 2.29 added: close every descriptor from `from`
/// on, and change the child's working directory.
#include <spawn.h>
int clinux_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);
int clinux_spawn_chdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
