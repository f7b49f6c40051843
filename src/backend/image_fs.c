/*
 * image_fs.c - small file helpers for the image target, all relative to a
 * directory fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/image.h"

int img_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int img_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int img_pwritev_all(int fd, struct iovec *iov, size_t n, uint64_t off, uint64_t *at)
{
	while (n) {
		int k = n < IMG_IOV_MAX ? (int)n : IMG_IOV_MAX;
		ssize_t w = pwritev(fd, iov, k, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			*at = off;
			return -1;
		}
		off += (uint64_t)w;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {                        /* a short write inside an iovec */
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int img_write_atomic(int dirfd, const char *name, const void *data, size_t len, int sync)
{
	char tmp[512];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (img_write_all(fd, data, len) || (sync && fsync(fd))) {
		e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	if (close(fd) || renameat(dirfd, tmp, dirfd, name)) {
		e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int img_exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int img_rm_rf(int dfd, const char *name)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) && errno != ENOENT ? -1 : 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (img_rm_rf(dirfd(d), de->d_name))
			rc = -1;
	}
	closedir(d);
	if (rc)
		return -1;
	return unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT ? -1 : 0;
}

int img_fsync_dir(int dirfd)
{
	return fsync(dirfd);
}

int img_crash_armed(const char *point)
{
	const char *at = getenv("STANDBY_IMAGE_CRASH_AT");

	return at && !strcmp(at, point);
}

void img_crash_point(const char *point)
{
	if (img_crash_armed(point))
		_exit(137);
}
