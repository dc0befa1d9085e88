/* In-memory struct bk_disk that can simulate a power failure.
 *
 * Every file keeps two images: what reads see (the page cache) and what is
 * on "stable storage". A write or truncate goes to the first and is also
 * logged as pending; fdatasync on the file copies the first image into the
 * second and clears the log (SQLite's src/test6.c model). A crash then
 * decides, per file, what of the pending operations reached the platter:
 *   FAKE_CRASH_KILL   everything (kill -9: the page cache survives);
 *   FAKE_CRASH_POWER  per file at random: nothing, an in-order prefix with
 *                     the next write torn at a random byte, or a random
 *                     subset of the writes (the kernel writes pages back in
 *                     any order), each possibly torn.
 * A power loss also changes the disk's boot id (boot_id in struct bk_disk);
 * a kill does not.
 * After fake_disk_crash() every call fails with BK_EIO until
 * fake_disk_revive(), so threads still running against the old image
 * cannot change the post-crash one. Directory operations (create, rename,
 * unlink) are durable at once: the model covers file contents only.
 * Thread-safe (one mutex). */
#ifndef BK_TESTS_LIB_FAKE_DISK_H
#define BK_TESTS_LIB_FAKE_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/disk.h"

enum fake_crash_mode {
    FAKE_CRASH_KILL = 0,
    FAKE_CRASH_POWER = 1,
};

/* Returns a new empty disk seeded for its crash choices, or NULL. */
struct bk_disk *fake_disk_new(uint64_t seed);
void fake_disk_free(struct bk_disk *d);

void fake_disk_crash(struct bk_disk *d, enum fake_crash_mode mode);
void fake_disk_revive(struct bk_disk *d);

/* XORs byte `off` of path with x in both images (bit rot). Returns 0 or
 * BK_ENOENT/BK_ERANGE. */
int fake_disk_corrupt(struct bk_disk *d,
                      const char *path,
                      int64_t off,
                      uint8_t x);
/* Fault injection, counted over mutating calls (open with BK_DISK_CREATE,
 * pwritev, fdatasync, ftruncate, rename, unlink, fsync_dir):
 *   fake_disk_fail_at(d, n, err): the n-th such call from now fails with
 *     err and changes nothing; the calls after it work again;
 *   fake_disk_crash_at(d, n, mode): the n-th such call from now does not
 *     happen: the disk crashes (as fake_disk_crash) just before it, so a
 *     test can stop a multi-step operation between any two steps.
 * n == 0 disarms. fake_disk_fault_fired() tells whether the armed fault
 * went off (and rearming clears it). */
void fake_disk_fail_at(struct bk_disk *d, uint64_t n, int err);
void fake_disk_crash_at(struct bk_disk *d,
                        uint64_t n,
                        enum fake_crash_mode mode);
bool fake_disk_fault_fired(struct bk_disk *d);
/* Mutating calls so far (to size a sweep over fake_disk_crash_at). */
uint64_t fake_disk_mutations(struct bk_disk *d);

/* Lasting faults, until changed:
 *   fake_disk_set_space(d, bytes): the files may hold `bytes` in all (-1:
 *     unlimited, the default). A write that does not fit writes what fits
 *     and returns a short count, or fails with BK_ENOSPC, as on a full
 *     disk; free_bytes reports what is left;
 *   fake_disk_fail_opens(d, err): every open fails with err (BK_EMFILE:
 *     out of file descriptors); 0 stops it. */
void fake_disk_set_space(struct bk_disk *d, int64_t bytes);
int64_t fake_disk_used(struct bk_disk *d);
void fake_disk_fail_opens(struct bk_disk *d, int err);

/* Current size of path, or -1 when missing. */
int64_t fake_disk_size(struct bk_disk *d, const char *path);
/* Counters. */
uint64_t fake_disk_fsyncs(struct bk_disk *d);
uint64_t fake_disk_reads(struct bk_disk *d);
/* Open file descriptors right now. */
int fake_disk_open_fds(struct bk_disk *d);

#endif /* BK_TESTS_LIB_FAKE_DISK_H */
