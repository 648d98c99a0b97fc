#ifndef CFUSE_H
#define CFUSE_H

// libfuse 3.17 API; must be defined before the headers are read.
#define FUSE_USE_VERSION 317
#include <stddef.h>
#include <fuse3/fuse_lowlevel.h>
#include <stddef.h>
#include <sys/stat.h>

// Wrappers for what Swift cannot import or should not touch directly
// (bitfields of fuse_file_info, FUSE_BUFVEC_INIT, macros that later libfuse
// versions turn into versioned symbols).

struct fuse_session *cfuse_session_new(int argc, char **argv,
                                       const struct fuse_lowlevel_ops *ops,
                                       void *userdata);

/// Reply to a READ with `size` bytes of `fd` at `offset`, spliced where the
/// kernel allows it, without copying through a user-space buffer.
int cfuse_reply_fd(fuse_req_t req, int fd, off_t offset, size_t size);

void cfuse_fi_set_direct_io(struct fuse_file_info *fi, int value);
void cfuse_fi_set_keep_cache(struct fuse_file_info *fi, int value);
void cfuse_fi_set_cache_readdir(struct fuse_file_info *fi, int value);

/// Gives the kernel back a passthrough backing file (what fuse_passthrough_close does), on
/// the session's device descriptor: usable where no request is at hand any more (after a
/// reply that failed, the request is gone).
int cfuse_backing_close(int device_fd, int backing_id);

/// Run the multi-threaded loop with at most `max_threads` idle workers.
int cfuse_session_loop_mt(struct fuse_session *se, unsigned int max_idle_threads,
                          int clone_fd);

#endif
