#include "cfuse.h"

#include <stdint.h>
#include <sys/ioctl.h>

// From the kernel's uapi <linux/fuse.h> (Linux 6.9); Debian 12's headers predate it.
#define CFUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct fuse_session *cfuse_session_new(int argc, char **argv,
                                       const struct fuse_lowlevel_ops *ops,
                                       void *userdata) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_session *se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
    fuse_opt_free_args(&args);
    return se;
}

int cfuse_reply_fd(fuse_req_t req, int fd, off_t offset, size_t size) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = fd;
    buf.buf[0].pos = offset;
    return fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void cfuse_fi_set_direct_io(struct fuse_file_info *fi, int value) { fi->direct_io = value ? 1 : 0; }
void cfuse_fi_set_keep_cache(struct fuse_file_info *fi, int value) { fi->keep_cache = value ? 1 : 0; }
void cfuse_fi_set_cache_readdir(struct fuse_file_info *fi, int value) { fi->cache_readdir = value ? 1 : 0; }

int cfuse_backing_close(int device_fd, int backing_id) {
    uint32_t id = (uint32_t)backing_id;
    return ioctl(device_fd, CFUSE_DEV_IOC_BACKING_CLOSE, &id);
}

int cfuse_session_loop_mt(struct fuse_session *se, unsigned int max_idle_threads,
                          int clone_fd) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (config == NULL) return -1;
    fuse_loop_cfg_set_clone_fd(config, clone_fd);
    fuse_loop_cfg_set_max_threads(config, max_idle_threads);
    fuse_loop_cfg_set_idle_threads(config, max_idle_threads);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}
