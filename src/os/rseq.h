/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os/rseq.h: per-CPU object slots through Linux restartable sequences.
 *
 * 1 Overview
 *   A restartable sequence (rseq) is a short run of user instructions
 *   that the kernel treats as atomic with respect to everything else that
 *   can run on the same CPU: if the thread is preempted, migrated, or
 *   interrupted by a signal while its instruction pointer lies inside the
 *   sequence, the kernel does not resume it there but at an abort handler
 *   the sequence names.  A sequence reads the CPU it runs on, works on
 *   that CPU's data, and publishes its result with one final store (the
 *   commit); everything before the commit only reads or writes scratch
 *   state, so an abort leaves no trace and the handler simply starts
 *   over.  This is what lets pool_cache keep true per-CPU magazines in
 *   userspace without a lock or an atomic instruction on the fast path,
 *   which is what NetBSD gets by raising the IPL around its per-CPU
 *   groups.  glibc (2.35 and later) registers an rseq area for every
 *   thread and exports where it is (__rseq_offset from the thread
 *   pointer, __rseq_size); the kernel allows one area per thread, so we
 *   share glibc's and never register our own.
 *
 * 2 Data structures
 *   The caller owns an array of per-CPU slots, one per possible CPU
 *   (nbmem_rseq_ncpu()), `stride' bytes apart (NBMEM_PCPU_STRIDE):
 *
 *	struct nbmem_pcpu_slot {	offset
 *		uint32_t ps_lock;	0   0 free; non-zero: held (4)
 *		uint32_t ps_size;	4   capacity; 0: slot not set up
 *		uint64_t ps_word;	8   count | hits << 16
 *		void *ps_objs[];	16  LIFO stack, top ps_objs[count-1]
 *	};
 *
 *   ps_word holds the count of objects in ps_objs[0, count) in its low
 *   16 bits and, above them, the count of the pops and pushes that
 *   succeeded on the slot (the cache's hits on that CPU): each sequence
 *   commits both with its one store, so counting a hit costs no store
 *   of its own (a separate counter took a second read-modify-write of
 *   memory on every hit: about 0.2 ns of a 3.3 ns kmem pair in one
 *   comparison, within the noise in another).
 *   The hits wrap after 2^48 on one slot (their reader counts the wraps
 *   its slow paths see: pool_cache.c); a capacity stays below 2^16
 *   (nbmem_pcpu_count(), nbmem_pcpu_hits(), nbmem_pcpu_set_count()).
 *   The assembly below hard-codes these offsets (checked by CTASSERTs).
 *   A slot of zeroes is valid: it is empty to pop and full to push, like
 *   NetBSD's static zero-sized group, so an array can be a fresh
 *   anonymous mapping whose pages are touched only for CPUs in use; the
 *   first slow path on a CPU takes its lock and sets ps_size.
 *
 *   The rseq area (kernel ABI, include/uapi/linux/rseq.h) is read at
 *   offset 0 (cpu_id_start), 4 (cpu_id, negative while the thread is not
 *   registered) and written at 8 (rseq_cs, the pointer to the descriptor
 *   of the sequence in progress).  Each sequence has a 32-byte aligned
 *   descriptor {version 0, flags 0, start_ip, post_commit_offset,
 *   abort_ip} in section __rseq_cs (its address is also listed in
 *   __rseq_cs_ptr_array for debuggers and binary translators), and its
 *   abort handler, in section __rseq_failure, is preceded by the 32-bit
 *   signature glibc registered: 0x53053053 on x86-64 (emitted after the
 *   bytes 0f b9 3d, so it decodes as a trapping ud1 instruction) and the
 *   instruction word 0xd428bc00 ("brk #0x45e0") on aarch64.  The kernel
 *   checks the signature before it jumps to an abort handler.
 *
 * 3 Invariants: why one commit store is enough
 *   Each sequence is:  rseq_cs = &desc;  [start]  cpu = cpu_id (bail out
 *   if negative);  slot = base + cpu * stride;  bail out if ps_lock != 0;
 *   read/check the count and ps_size;  pop: read ps_objs[count-1], or
 *   push: write ps_objs[count];  commit: ps_word with the count -/+ 1
 *   and one more hit  [end].
 *   - What aborts it: preemption (including migration, which implies it)
 *     and signal delivery, whenever the thread's instruction pointer lies
 *     in [start, end).  The kernel then moves it to the abort handler,
 *     which jumps back to the rseq_cs store and so re-reads everything.
 *   - Sequences on CPU c are serialised: for thread B to run on c while
 *     thread A is inside a sequence on c, A must have been preempted, so
 *     A aborts and re-reads.  Hence between a sequence's first read and
 *     its commit no other write to slot c happened, and the reads it
 *     based its commit on are still true.  A push's write to
 *     ps_objs[count] before its commit is invisible: it lies above the
 *     published count, which no one reads.
 *   - Only a thread running on c touches slot c in a sequence: the slot
 *     is chosen from cpu_id inside the sequence, and a thread that moves
 *     away aborts.  A slow path that finds itself on another CPU works on
 *     that CPU's slot, never on the one it saw before.
 *   - A thread without a registration (cpu_id < 0: valgrind, the glibc
 *     tunable glibc.pthread.rseq=0) gets NBMEM_RSEQ_NOCPU and never
 *     touches a slot, so a caller that forgot nbmem_rseq_available()
 *     still falls back safely.
 *
 * 4 Locking: exchanging whole magazines
 *   The fast paths only move one object.  A slow path that must refill
 *   or drain a slot (exchange a magazine with the depot), set one up, or
 *   invalidate it holds the slot's lock, ps_lock, for as long as it
 *   likes: push and pop check ps_lock inside their sequence and return
 *   NBMEM_RSEQ_BUSY while it is held, so the holder may use plain loads
 *   and stores on the slot, even after it has been migrated away from
 *   that CPU in the middle of its work (migration between the steps of a
 *   slow path is harmless: the lock names the slot, not the CPU the
 *   holder happens to be on, and nbmem_rseq_trylock() reports which slot
 *   it took).  A slow path re-checks the slot once it holds the lock:
 *   the pop that found it empty may have run on another CPU, and other
 *   threads may have pushed since.  While a holder is descheduled the
 *   fast paths of that CPU fall back to the shared layers: slower, never
 *   wrong.  Two ways to take it:
 *   - nbmem_rseq_trylock(): the slot of the CPU the caller runs on, as a
 *     sequence whose commit is the store of 1 into ps_lock;
 *   - nbmem_rseq_trylock_cpu(): any CPU's slot (invalidation, draining
 *     idle CPUs): compare-and-swap 0 -> a token unique to the thread,
 *     then membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) on that CPU
 *     aborts every sequence of ours in flight there, then re-read: if the
 *     token is still there, every sequence that read ps_lock == 0 before
 *     the swap has either committed before the barrier or aborted and
 *     will see the token; if a local trylock committed over the token
 *     meanwhile, that thread owns the slot and we report failure.
 *   Both are try-locks and never wait: a signal handler that interrupted
 *   a holder on its own thread would wait forever.  Callers fall back to
 *   the shared layers when the slot is busy.  nbmem_rseq_unlock() is a
 *   store-release of 0; the fast paths load ps_lock with acquire order
 *   (ldar on aarch64; plain loads are enough on x86-64's TSO), so the
 *   holder's work is visible to the next sequence on that CPU.  Ordering
 *   between sequences of different threads on one CPU needs no barrier:
 *   the context switch between them is a full barrier.
 *
 * 5 Signals
 *   A handler that interrupts a sequence runs after the kernel moved the
 *   interrupted thread to its abort handler, so the handler sees slots in
 *   a committed state and may push and pop them itself; the interrupted
 *   sequence restarts from the top when the handler returns, re-reading
 *   the slot the handler may have changed.  A handler that interrupts a
 *   lock holder gets NBMEM_RSEQ_BUSY.  (tests/unit/t_rseq.c: signal_storm)
 *
 * 6 Differences from NetBSD
 *   NetBSD's pool_cache runs its per-CPU step at splvm() with preemption
 *   off and swaps group pointers; here objects live in the slot itself
 *   and whole-magazine moves happen under the slot lock.  A debugger
 *   single-stepping through a sequence aborts it at every step: step over
 *   it.  The kernel reads the descriptor a thread last named in
 *   rseq_cs at its next preemption, even after the sequence ended; a
 *   library with sequences must therefore never be unmapped while
 *   threads live (link with -z nodelete).  Other architectures and
 *   systems: nbmem_rseq_available() is false and every operation
 *   returns NBMEM_RSEQ_NOCPU.
 *
 * 7 References
 *   Linux kernel/rseq.c (the algorithm comment: abort_ip outside the
 *   critical section, the signature check), include/uapi/linux/rseq.h,
 *   rseq(2) and membarrier(2) (MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
 *   MEMBARRIER_CMD_FLAG_CPU, Linux 5.10);
 *   tools/testing/selftests/rseq (rseq-x86.h, rseq-arm64.h); glibc
 *   manual, "Restartable Sequences" (__rseq_offset, __rseq_size, and the
 *   2.40 change, backported to 2.35, that makes __rseq_size the feature
 *   size, 20, instead of 32); M. Desnoyers, librseq.
 */
#ifndef NBMEM_OS_RSEQ_H
#define NBMEM_OS_RSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of the per-CPU operations. */
#define	NBMEM_RSEQ_OK		0	/* done */
#define	NBMEM_RSEQ_EMPTY	1	/* pop: the slot holds no object */
#define	NBMEM_RSEQ_FULL		2	/* push: the count is ps_size */
#define	NBMEM_RSEQ_BUSY		3	/* the slot's lock is held */
#define	NBMEM_RSEQ_NOCPU	4	/* this thread has no registration */

struct nbmem_pcpu_slot {
	uint32_t	ps_lock;
	uint32_t	ps_size;
	uint64_t	ps_word;
	void		*ps_objs[];
};

_Static_assert(offsetof(struct nbmem_pcpu_slot, ps_lock) == 0, "rseq asm");
_Static_assert(offsetof(struct nbmem_pcpu_slot, ps_size) == 4, "rseq asm");
_Static_assert(offsetof(struct nbmem_pcpu_slot, ps_word) == 8, "rseq asm");
_Static_assert(offsetof(struct nbmem_pcpu_slot, ps_objs) == 16, "rseq asm");

/*
 * Bytes a slot of n objects needs, and a stride for it rounded up to 64
 * (the cache line of x86-64 and most aarch64 parts: neighbouring CPUs
 * never write the same line).
 */
#define	NBMEM_PCPU_SLOT_SIZE(n)						\
	(offsetof(struct nbmem_pcpu_slot, ps_objs) +			\
	(size_t)(n) * sizeof(void *))
#define	NBMEM_PCPU_STRIDE(n)	((NBMEM_PCPU_SLOT_SIZE(n) + 63) & ~(size_t)63)

/* Slot `cpu' of an array. */
static inline struct nbmem_pcpu_slot *
nbmem_pcpu_slot(void *base, size_t stride, unsigned int cpu)
{
	return (struct nbmem_pcpu_slot *)((char *)base + (size_t)cpu * stride);
}

/* The parts of ps_word (the sequences add 0xffff, 0x10001 or 1). */
#define	NBMEM_PCPU_COUNT_MASK	((uint64_t)0xffff)
#define	NBMEM_PCPU_HIT_SHIFT	16
#define	NBMEM_PCPU_SIZE_MAX	0xffffu

/*
 * The objects in a slot: exact for its lock holder, a snapshot for
 * anyone else (statistics).
 */
static inline uint32_t
nbmem_pcpu_count(struct nbmem_pcpu_slot *s)
{
	return (uint32_t)(__atomic_load_n(&s->ps_word, __ATOMIC_RELAXED) &
	    NBMEM_PCPU_COUNT_MASK);
}

/* The pops and pushes the sequences made on a slot (modulo 2^48). */
static inline uint64_t
nbmem_pcpu_hits(struct nbmem_pcpu_slot *s)
{
	return __atomic_load_n(&s->ps_word, __ATOMIC_RELAXED) >>
	    NBMEM_PCPU_HIT_SHIFT;
}

/*
 * Set the count, keeping the hits: only with the slot's lock held (no
 * sequence commits meanwhile) or before the slot is in use.
 */
static inline void
nbmem_pcpu_set_count(struct nbmem_pcpu_slot *s, uint32_t n)
{
	uint64_t w = __atomic_load_n(&s->ps_word, __ATOMIC_RELAXED);

	__atomic_store_n(&s->ps_word, (w & ~NBMEM_PCPU_COUNT_MASK) | n,
	    __ATOMIC_RELAXED);
}

/* ---- defined in os/rseq_linux.c */

/*
 * True when the per-CPU operations work in the calling thread: the
 * architecture is supported, NBMEM_PERCPU is not "0", glibc registered
 * rseq (__rseq_size >= 20: every field used here), this thread's
 * registration holds a CPU number (not under valgrind, which refuses the
 * system call), and membarrier's rseq fence is available for
 * nbmem_rseq_trylock_cpu().  The process-wide part is decided once.
 */
bool	nbmem_rseq_available(void);
/*
 * Slots an array needs: one more than the highest CPU number the kernel
 * may ever report (the "possible" CPUs, which include hot-pluggable
 * ones; at least the configured count).
 */
unsigned int nbmem_rseq_ncpu(void);
/*
 * Take the lock of slot `cpu' from anywhere (see 4): true when held.
 * False when it is busy or the fence is not available.  Not from a
 * signal handler.  Costs a system call and an IPI to that CPU.
 */
bool	nbmem_rseq_trylock_cpu(void *base, size_t stride, unsigned int cpu);

/*
 * Make this thread's fast sequences (NBMEM_RSEQ_HAVE_FAST) find no CPU
 * (`off' true) or its real rseq area again.  Async-signal-safe.
 */
void	nbmem_rseq_set_divert(bool off);

/* Release a slot lock taken by either trylock, from any CPU. */
static inline void
nbmem_rseq_unlock(void *base, size_t stride, unsigned int cpu)
{
	__atomic_store_n(&nbmem_pcpu_slot(base, stride, cpu)->ps_lock, 0,
	    __ATOMIC_RELEASE);
}

/*
 * ---- the sequences
 *
 * All operate on the slot of the CPU the caller runs on at the moment of
 * the commit, and all are async-signal-safe and restart by themselves
 * after an abort; none waits.  The array must have nbmem_rseq_ncpu()
 * slots of `stride' bytes (a multiple of 8).
 *
 * nbmem_rseq_pop(base, stride, &obj): take the top object: OK, EMPTY,
 *	BUSY or NOCPU; *objp is written only on OK.
 * nbmem_rseq_push(base, stride, obj): put obj on top: OK, FULL, BUSY or
 *	NOCPU.  Both count a hit in the slot's word when they succeed.
 * nbmem_rseq_refill(base, stride, obj): the same push without the hit.
 * nbmem_rseq_trylock(base, stride, &cpu): take this CPU's slot lock: OK
 *	with the slot's CPU in *cpup (use it, not the CPU you run on later,
 *	for the work and the unlock), BUSY or NOCPU.
 * nbmem_rseq_cpu(): cpu_id_start, the CPU the thread last ran on (a hint
 *	for statistics; 0 without a registration).
 * nbmem_rseq_cpu_id(): cpu_id, negative without a registration.
 *
 * nbmem_rseq_cpu() and nbmem_rseq_cpu_id() read glibc's area and so may
 * only be called once nbmem_rseq_available() returned true (in any
 * thread); the other four additionally check this thread's
 * registration themselves.
 */

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define	NBMEM_RSEQ_ARCH	1

/* glibc's, weak so that an older C library links (and reports none). */
extern const ptrdiff_t __rseq_offset __attribute__((__weak__));
extern const unsigned int __rseq_size __attribute__((__weak__));

/*
 * A copy of __rseq_offset in the library itself, taken by the earliest
 * constructor (os/rseq_linux.c): one load from our data instead of two
 * (the GOT entry, then glibc's variable) at the head of every sequence.
 */
extern ptrdiff_t nbmem_rseq_offset
    __attribute__((__visibility__("hidden")));

#define	NBMEM_RSEQ_STR1(x)	#x
#define	NBMEM_RSEQ_STR(x)	NBMEM_RSEQ_STR1(x)

/*
 * The descriptor of one sequence, labels in the numbering every sequence
 * below uses: 1 descriptor, 5 the rseq_cs store (where an abort
 * restarts), 2 start, 3 end (post-commit), 4 abort handler, 9 the
 * common end (x86-64 also 6/7/8: out-of-line NOCPU/BUSY/other exits).
 */
#define	NBMEM_RSEQ_DESC							\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n"							\
	"1:\n\t"							\
	".long 0, 0\n\t"						\
	".quad 2f, 3f - 2f, 4f\n\t"					\
	".popsection\n\t"						\
	".pushsection __rseq_cs_ptr_array, \"aw\"\n\t"			\
	".quad 1b\n\t"							\
	".popsection\n"

/*
 * Each architecture supplies NBMEM_RSEQ_AREA_IN (how the asm reaches the
 * rseq area), nbmem_rseq_cpu(), nbmem_rseq_cpu_id(), and the three asm
 * texts, over one set of operands: outputs t (the slot), r (the result),
 * u (scratch; the slot's word in pop and push), v (the count), obj/c
 * (the object popped, the CPU locked); inputs the area, base, stride
 * and the object pushed.
 */
#if defined(__x86_64__)

/* The area is reached as %fs:offset, with no thread-pointer load. */
#define	NBMEM_RSEQ_AREA_IN	[off] "r" (nbmem_rseq_offset)

/* Store the descriptor; load this CPU's number into `reg', or NOCPU. */
#define	NBMEM_RSEQ_CPU(reg)						\
	NBMEM_RSEQ_DESC							\
	"5:\n\t"							\
	"leaq 1b(%%rip), %[t]\n\t"					\
	"movq %[t], %%fs:8(%[off])\n"					\
	"2:\n\t"							\
	"movslq %%fs:4(%[off]), %[" #reg "]\n\t"			\
	"testq %[" #reg "], %[" #reg "]\n\t"				\
	"js 6f\n\t"

/* ... then t = its slot, or BUSY. */
#define	NBMEM_RSEQ_ENTER						\
	NBMEM_RSEQ_CPU(t)						\
	"imulq %[stride], %[t]\n\t"					\
	"addq %[base], %[t]\n\t"					\
	"cmpl $0, 0(%[t])\n\t"						\
	"jne 7f\n\t"

/* After the commit: r = OK; out of line, the signature, abort, exits. */
#define	NBMEM_RSEQ_LEAVE(fail)						\
	"3:\n\t"							\
	"xorl %k[r], %k[r]\n"						\
	"9:\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long 0x53053053\n"						\
	"4:\n\t"							\
	"jmp 5b\n"							\
	"6:\n\t"							\
	"movl $" NBMEM_RSEQ_STR(NBMEM_RSEQ_NOCPU) ", %k[r]\n\t"		\
	"jmp 9b\n"							\
	"7:\n\t"							\
	"movl $" NBMEM_RSEQ_STR(NBMEM_RSEQ_BUSY) ", %k[r]\n\t"		\
	"jmp 9b\n"							\
	"8:\n\t"							\
	"movl $" NBMEM_RSEQ_STR(fail) ", %k[r]\n\t"			\
	"jmp 9b\n\t"							\
	".popsection\n"

/*
 * The word is in u, the count in v; a pop adds 0xffff (a hit, one object
 * less), a push 0x10001 (a hit, one more) or, for the refills of the
 * slow path, which are no hits, 1 (NBMEM_RSEQ_PUSH_INC_*).
 */
#define	NBMEM_RSEQ_POP_ASM						\
	NBMEM_RSEQ_ENTER						\
	"movq 8(%[t]), %[u]\n\t"					\
	"movzwl %w[u], %k[v]\n\t"					\
	"subl $1, %k[v]\n\t"						\
	"jc 8f\n\t"							\
	"movq 16(%[t], %[v], 8), %[obj]\n\t"				\
	"addq $0xffff, %[u]\n\t"					\
	"movq %[u], 8(%[t])\n"						\
	NBMEM_RSEQ_LEAVE(NBMEM_RSEQ_EMPTY)

#define	NBMEM_RSEQ_PUSH_INC_HIT		"addq $0x10001, %[u]\n\t"
#define	NBMEM_RSEQ_PUSH_INC_REFILL	"addq $1, %[u]\n\t"

#define	NBMEM_RSEQ_PUSH_ASM(inc)					\
	NBMEM_RSEQ_ENTER						\
	"movq 8(%[t]), %[u]\n\t"					\
	"movzwl %w[u], %k[v]\n\t"					\
	"cmpl 4(%[t]), %k[v]\n\t"					\
	"jae 8f\n\t"							\
	"movq %[obj], 16(%[t], %[v], 8)\n\t"				\
	inc								\
	"movq %[u], 8(%[t])\n"						\
	NBMEM_RSEQ_LEAVE(NBMEM_RSEQ_FULL)

#define	NBMEM_RSEQ_LOCK_ASM						\
	NBMEM_RSEQ_CPU(c)						\
	"movq %[c], %[t]\n\t"						\
	"imulq %[stride], %[t]\n\t"					\
	"addq %[base], %[t]\n\t"					\
	"cmpl $0, 0(%[t])\n\t"						\
	"jne 7f\n\t"							\
	"movl $1, 0(%[t])\n"						\
	NBMEM_RSEQ_LEAVE(NBMEM_RSEQ_BUSY)

/*
 * The pool cache's fast paths (x86-64 only): a pop and a push that jump
 * to the caller's label on anything but success, so no result code is
 * left to test, and that reach the rseq area at nbmem_rseq_offset plus
 * this thread's nbmem_rseq_divert.  That displacement is 0, except
 * inside nbmem_intr_enter/exit, where it points at nbmem_rseq_fake, an
 * area of this library's whose cpu_id is -1: the sequence then finds no
 * CPU at once and the caller takes its slow path, which checks what a
 * handler may do (nbmem_rseq_set_divert, called by intr.c through
 * nbmem_pcc_fast_sync).  One load and an add replace a test of the
 * interrupt depth.
 */
extern __thread ptrdiff_t nbmem_rseq_divert
    __attribute__((__tls_model__("initial-exec")));
#define	NBMEM_RSEQ_HAVE_FAST	1

#define	NBMEM_RSEQ_FAST_ENTER						\
	NBMEM_RSEQ_DESC							\
	"5:\n\t"							\
	"leaq 1b(%%rip), %[t]\n\t"					\
	"movq %[t], %%fs:8(%[off])\n"					\
	"2:\n\t"							\
	"movslq %%fs:4(%[off]), %[t]\n\t"				\
	"testq %[t], %[t]\n\t"					\
	"js %l[fail]\n\t"						\
	"imulq %[stride], %[t]\n\t"					\
	"addq %[base], %[t]\n\t"					\
	"cmpl $0, 0(%[t])\n\t"					\
	"jne %l[fail]\n\t"

#define	NBMEM_RSEQ_FAST_LEAVE						\
	"3:\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long 0x53053053\n"						\
	"4:\n\t"							\
	"jmp 5b\n\t"							\
	".popsection\n"

/* Pop into *objp; false: take the slow path. */
static inline __attribute__((__always_inline__)) bool
nbmem_rseq_pop_fast(void *base, size_t stride, void **objp)
{
	ptrdiff_t off = nbmem_rseq_offset + nbmem_rseq_divert;
	uint64_t t, u, v;
	void *obj;

	__asm__ __volatile__ goto(NBMEM_RSEQ_FAST_ENTER
	    "movq 8(%[t]), %[u]\n\t"
	    "movzwl %w[u], %k[v]\n\t"
	    "subl $1, %k[v]\n\t"
	    "jc %l[fail]\n\t"
	    "movq 16(%[t], %[v], 8), %[obj]\n\t"
	    "addq $0xffff, %[u]\n\t"
	    "movq %[u], 8(%[t])\n"
	    NBMEM_RSEQ_FAST_LEAVE
	    : [t] "=&r" (t), [u] "=&r" (u), [v] "=&r" (v), [obj] "=&r" (obj)
	    : [off] "r" (off), [base] "r" (base), [stride] "r" (stride)
	    : "memory", "cc"
	    : fail);
	*objp = obj;
	return true;
fail:
	return false;
}

/* Push obj; false: take the slow path. */
static inline __attribute__((__always_inline__)) bool
nbmem_rseq_push_fast(void *base, size_t stride, void *obj)
{
	ptrdiff_t off = nbmem_rseq_offset + nbmem_rseq_divert;
	uint64_t t, u, v;

	__asm__ __volatile__ goto(NBMEM_RSEQ_FAST_ENTER
	    "movq 8(%[t]), %[u]\n\t"
	    "movzwl %w[u], %k[v]\n\t"
	    "cmpl 4(%[t]), %k[v]\n\t"
	    "jae %l[fail]\n\t"
	    "movq %[obj], 16(%[t], %[v], 8)\n\t"
	    "addq $0x10001, %[u]\n\t"
	    "movq %[u], 8(%[t])\n"
	    NBMEM_RSEQ_FAST_LEAVE
	    : [t] "=&r" (t), [u] "=&r" (u), [v] "=&r" (v)
	    : [off] "r" (off), [base] "r" (base), [stride] "r" (stride),
	      [obj] "r" (obj)
	    : "memory", "cc"
	    : fail);
	return true;
fail:
	return false;
}

static inline unsigned int
nbmem_rseq_cpu(void)
{
	unsigned int cpu;

	__asm__ __volatile__("movl %%fs:(%1), %0"
	    : "=r" (cpu) : "r" (nbmem_rseq_offset));
	return cpu;
}

static inline int
nbmem_rseq_cpu_id(void)
{
	int cpu;

	__asm__ __volatile__("movl %%fs:4(%1), %0"
	    : "=r" (cpu) : "r" (nbmem_rseq_offset));
	return cpu;
}

#else /* __aarch64__ */

/*
 * Every early exit sets r first and branches to 9, just past the
 * sequence: conditional branches reach only +-32 KiB (tbnz) or +-1 MiB,
 * too little to trust for a jump into another section; the abort
 * handler's unconditional branch back reaches +-128 MiB and the linker
 * may route it through a veneer.  32-bit loads zero-extend, so bit 31
 * of cpu_id is its sign and the 64-bit register is the CPU number.
 */
static inline char *
nbmem_rseq_area(void)
{
	return (char *)__builtin_thread_pointer() + nbmem_rseq_offset;
}

#define	NBMEM_RSEQ_AREA_IN	[rs] "r" (nbmem_rseq_area())

/* Store the descriptor; load this CPU's number into `reg', or NOCPU. */
#define	NBMEM_RSEQ_CPU(reg)						\
	NBMEM_RSEQ_DESC							\
	"5:\n\t"							\
	"adrp %[t], 1b\n\t"						\
	"add %[t], %[t], :lo12:1b\n\t"					\
	"str %[t], [%[rs], #8]\n"					\
	"2:\n\t"							\
	"ldr %w[" #reg "], [%[rs], #4]\n\t"				\
	"mov %w[r], #" NBMEM_RSEQ_STR(NBMEM_RSEQ_NOCPU) "\n\t"		\
	"tbnz %w[" #reg "], #31, 9f\n\t"

/* ... then t = its slot, or BUSY (lock word read with acquire). */
#define	NBMEM_RSEQ_SLOT(reg)						\
	"madd %[t], %[" #reg "], %[stride], %[base]\n\t"		\
	"ldar %w[u], [%[t]]\n\t"					\
	"mov %w[r], #" NBMEM_RSEQ_STR(NBMEM_RSEQ_BUSY) "\n\t"		\
	"cbnz %w[u], 9f\n\t"

#define	NBMEM_RSEQ_LEAVE						\
	"3:\n\t"							\
	"mov %w[r], #0\n"						\
	"9:\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".inst 0xd428bc00\n"						\
	"4:\n\t"							\
	"b 5b\n\t"							\
	".popsection\n"

/*
 * t moves to ps_objs, so the commit addresses ps_word at t - 8.  The word
 * is in u, the count in v; the increments as on x86-64 (0xffff is
 * 0x10000 - 1: add takes 12-bit immediates).
 */

#define	NBMEM_RSEQ_POP_ASM						\
	NBMEM_RSEQ_CPU(t)						\
	NBMEM_RSEQ_SLOT(t)						\
	"ldr %[u], [%[t], #8]\n\t"					\
	"and %[v], %[u], #0xffff\n\t"					\
	"mov %w[r], #" NBMEM_RSEQ_STR(NBMEM_RSEQ_EMPTY) "\n\t"		\
	"cbz %[v], 9f\n\t"						\
	"sub %[v], %[v], #1\n\t"					\
	"add %[t], %[t], #16\n\t"					\
	"ldr %[obj], [%[t], %[v], lsl #3]\n\t"				\
	"add %[u], %[u], #0x10, lsl #12\n\t"				\
	"sub %[u], %[u], #1\n\t"					\
	"stur %[u], [%[t], #-8]\n"					\
	NBMEM_RSEQ_LEAVE

#define	NBMEM_RSEQ_PUSH_INC_HIT						\
	"add %[u], %[u], #0x10, lsl #12\n\t"				\
	"add %[u], %[u], #1\n\t"
#define	NBMEM_RSEQ_PUSH_INC_REFILL	"add %[u], %[u], #1\n\t"

#define	NBMEM_RSEQ_PUSH_ASM(inc)					\
	NBMEM_RSEQ_CPU(t)						\
	NBMEM_RSEQ_SLOT(t)						\
	"ldr %[u], [%[t], #8]\n\t"					\
	"and %[v], %[u], #0xffff\n\t"					\
	"ldr %w[r], [%[t], #4]\n\t"					\
	"cmp %w[v], %w[r]\n\t"						\
	"mov %w[r], #" NBMEM_RSEQ_STR(NBMEM_RSEQ_FULL) "\n\t"		\
	"b.hs 9f\n\t"							\
	"add %[t], %[t], #16\n\t"					\
	"str %[obj], [%[t], %[v], lsl #3]\n\t"				\
	inc								\
	"stur %[u], [%[t], #-8]\n"					\
	NBMEM_RSEQ_LEAVE

#define	NBMEM_RSEQ_LOCK_ASM						\
	NBMEM_RSEQ_CPU(c)						\
	NBMEM_RSEQ_SLOT(c)						\
	"mov %w[u], #1\n\t"						\
	"str %w[u], [%[t]]\n"						\
	NBMEM_RSEQ_LEAVE

static inline unsigned int
nbmem_rseq_cpu(void)
{
	return *(volatile uint32_t *)nbmem_rseq_area();
}

static inline int
nbmem_rseq_cpu_id(void)
{
	return *(volatile int32_t *)(nbmem_rseq_area() + 4);
}

#endif /* __aarch64__ */

/* Pop an object from this CPU's slot. */
static inline int
nbmem_rseq_pop(void *base, size_t stride, void **objp)
{
	uint64_t t, u, v;
	void *obj;
	int r;

	__asm__ __volatile__(NBMEM_RSEQ_POP_ASM
	    : [t] "=&r" (t), [r] "=&r" (r), [u] "=&r" (u), [v] "=&r" (v),
	      [obj] "=&r" (obj)
	    : NBMEM_RSEQ_AREA_IN, [base] "r" (base), [stride] "r" (stride)
	    : "memory", "cc");
	if (__builtin_expect(r == NBMEM_RSEQ_OK, 1))
		*objp = obj;
	return r;
}

/*
 * Push an object into this CPU's slot, counted as a hit (`hit' true) or
 * not: a slow path's refill puts an object its caller did not give back.
 */
static inline __attribute__((__always_inline__)) int
nbmem_rseq_push_as(void *base, size_t stride, void *obj, bool hit)
{
	uint64_t t, u, v;
	int r;

#define	NBMEM_RSEQ_PUSH_STMT(inc)					\
	__asm__ __volatile__(NBMEM_RSEQ_PUSH_ASM(inc)			\
	    : [t] "=&r" (t), [r] "=&r" (r), [u] "=&r" (u),		\
	      [v] "=&r" (v)						\
	    : NBMEM_RSEQ_AREA_IN, [base] "r" (base),			\
	      [stride] "r" (stride), [obj] "r" (obj)			\
	    : "memory", "cc")
	if (hit)
		NBMEM_RSEQ_PUSH_STMT(NBMEM_RSEQ_PUSH_INC_HIT);
	else
		NBMEM_RSEQ_PUSH_STMT(NBMEM_RSEQ_PUSH_INC_REFILL);
#undef	NBMEM_RSEQ_PUSH_STMT
	return r;
}

static inline int
nbmem_rseq_push(void *base, size_t stride, void *obj)
{
	return nbmem_rseq_push_as(base, stride, obj, true);
}

static inline int
nbmem_rseq_refill(void *base, size_t stride, void *obj)
{
	return nbmem_rseq_push_as(base, stride, obj, false);
}

static inline int
nbmem_rseq_trylock(void *base, size_t stride, unsigned int *cpup)
{
	uint64_t t, u, c;
	int r;

	__asm__ __volatile__(NBMEM_RSEQ_LOCK_ASM
	    : [t] "=&r" (t), [r] "=&r" (r), [u] "=&r" (u), [c] "=&r" (c)
	    : NBMEM_RSEQ_AREA_IN, [base] "r" (base), [stride] "r" (stride)
	    : "memory", "cc");
	if (r == NBMEM_RSEQ_OK)
		*cpup = (unsigned int)c;
	return r;
}

#else /* no rseq here: every operation reports NOCPU */
#define	NBMEM_RSEQ_ARCH	0

static inline unsigned int
nbmem_rseq_cpu(void)
{
	return 0;
}

static inline int
nbmem_rseq_cpu_id(void)
{
	return -1;
}

static inline int
nbmem_rseq_pop(void *base, size_t stride, void **objp)
{
	return NBMEM_RSEQ_NOCPU;
}

static inline int
nbmem_rseq_push(void *base, size_t stride, void *obj)
{
	return NBMEM_RSEQ_NOCPU;
}

static inline int
nbmem_rseq_refill(void *base, size_t stride, void *obj)
{
	return NBMEM_RSEQ_NOCPU;
}

static inline int
nbmem_rseq_trylock(void *base, size_t stride, unsigned int *cpup)
{
	return NBMEM_RSEQ_NOCPU;
}
#endif

#endif /* NBMEM_OS_RSEQ_H */
