/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem_demo: three everyday jobs for vmem(3), the general resource
 * allocator, shown step by step.
 *
 *  1. A process-ID allocator.  The IDs 300..32767 form an arena with a
 *     quantum of 1; VM_NEXTFIT hands them out cyclically, so an ID that
 *     was just released is not handed out again at once (a stale ID held
 *     by someone does not suddenly name a new process), and the search
 *     wraps around to the low IDs once the top is reached.
 *
 *  2. Carving a PCI memory window.  A 4 GiB window at 0xc0000000 is
 *     divided among device BARs (each aligned to its own size, as the
 *     PCI specification demands), a DMA buffer that must not cross a
 *     64 KiB boundary and must lie below 0xd0000000, a register block
 *     at a fixed address, and a request that cannot be met.
 *
 *  3. Stacked arenas.  A buffer arena with a small quantum imports
 *     64 KiB chunks from a page-granular parent arena when it runs dry,
 *     and hands each chunk back as soon as it is completely free.
 *
 * The program uses only the public headers.  It checks what it claims
 * as it goes and exits non-zero if any claim did not hold.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbmem/nbmem.h>
#include <nbmem/vmem.h>

#define	KiB	((vmem_size_t)1 << 10)
#define	MiB	((vmem_size_t)1 << 20)
#define	GiB	((vmem_size_t)1 << 30)

static int failures;

/*
 * A printf-like sink with the shape vmem_print() and vmem_whatis()
 * expect; indents what they print so that it stands out.
 */
static void __attribute__((__format__(__printf__, 1, 2)))
pr(const char *fmt, ...)
{
	static bool bol = true;		/* at the beginning of a line */
	char buf[512], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (p = buf; *p != '\0'; p++) {
		if (bol)
			fputs("    | ", stdout);
		putchar(*p);
		bol = *p == '\n';
	}
}

/* Record a claim of the walkthrough; say so loudly if it is false. */
static void
claim(bool ok, const char *what)
{

	if (!ok) {
		printf("  !! UNEXPECTED: %s\n", what);
		failures++;
	}
}

static void
section(const char *title)
{

	printf("\n==== %s\n\n", title);
}

/* Human-readable size: "256 MiB", "288.3 MiB", "48 KiB", "7". */
static const char *
hsize(vmem_size_t sz, char *buf, size_t len)
{
	static const struct {
		vmem_size_t unit;
		const char *name;
	} units[] = { { GiB, "GiB" }, { MiB, "MiB" }, { KiB, "KiB" } };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (sz < units[i].unit)
			continue;
		if (sz % units[i].unit == 0)
			snprintf(buf, len, "%zu %s", sz / units[i].unit,
			    units[i].name);
		else
			snprintf(buf, len, "%.1f %s",
			    (double)sz / (double)units[i].unit, units[i].name);
		return buf;
	}
	snprintf(buf, len, "%zu", sz);
	return buf;
}

/* The three vmem_size() figures, in the arena's own units. */
static void
show_sizes(vmem_t *vm, const char *name, bool bytes)
{
	char a[32], f[32], t[32];
	vmem_size_t alloc = vmem_size(vm, VMEM_ALLOC);
	vmem_size_t freesz = vmem_size(vm, VMEM_FREE);
	vmem_size_t total = vmem_size(vm, VMEM_ALLOC | VMEM_FREE);

	if (bytes)
		printf("  %s: allocated %s, free %s, total %s\n", name,
		    hsize(alloc, a, sizeof(a)), hsize(freesz, f, sizeof(f)),
		    hsize(total, t, sizeof(t)));
	else
		printf("  %s: allocated %zu, free %zu, total %zu\n", name,
		    alloc, freesz, total);
	claim(alloc + freesz == total, "allocated + free == total");
}

static void
show_arena(vmem_t *vm)
{

	printf("  -- vmem_print:\n");
	vmem_print((uintptr_t)vm, "", pr);
}

/* ---- 1. process IDs */

#define	PID_MIN		300
#define	PID_LIMIT	32768		/* one past the largest ID */
#define	PID_RUNNING	1000		/* processes alive at once */

static vmem_addr_t
pid_alloc(vmem_t *vm, vm_flag_t fit)
{
	vmem_addr_t pid;
	int error;

	error = vmem_alloc(vm, 1, fit | VM_NOSLEEP, &pid);
	if (error != 0) {
		printf("  pid_alloc: %s\n", strerror(error));
		failures++;
		exit(1);
	}
	return pid;
}

/*
 * First with instant fit, to show the problem: the ID just freed is the
 * one handed out next.
 */
static void
demo_pid_reuse(void)
{
	vmem_t *vm;
	vmem_addr_t a, b, c, d;

	vm = vmem_create("pid-instant", PID_MIN, PID_LIMIT - PID_MIN, 1,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	a = pid_alloc(vm, VM_INSTANTFIT);
	b = pid_alloc(vm, VM_INSTANTFIT);
	c = pid_alloc(vm, VM_INSTANTFIT);
	printf("  instant fit: allocated %lu %lu %lu; freeing %lu\n",
	    (unsigned long)a, (unsigned long)b, (unsigned long)c,
	    (unsigned long)b);
	vmem_free(vm, b, 1);
	d = pid_alloc(vm, VM_INSTANTFIT);
	printf("  instant fit: next ID is %lu -- %s\n", (unsigned long)d,
	    d == b ? "the one just freed: a stale reference to process "
	    "b now names a stranger" : "a fresh one");
	vmem_free(vm, a, 1);
	vmem_free(vm, c, 1);
	vmem_free(vm, d, 1);
	vmem_destroy(vm);
}

static void
demo_pid(void)
{
	static vmem_addr_t ring[PID_RUNNING];
	vmem_t *vm;
	vmem_addr_t init, pid, first[6], last = 0, wrapped = 0;
	unsigned long spawned = 0;
	unsigned int head = 0, n = 0, i;
	bool reused;

	section("1. A process-ID allocator: [300, 32768), quantum 1, "
	    "VM_NEXTFIT");

	demo_pid_reuse();

	vm = vmem_create("pid", PID_MIN, PID_LIMIT - PID_MIN, 1,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	if (vm == NULL) {
		printf("  vmem_create failed\n");
		exit(1);
	}

	/* "init" takes the first ID and never exits. */
	init = pid_alloc(vm, VM_NEXTFIT);
	printf("  next fit: init is process %lu\n", (unsigned long)init);
	claim(init == PID_MIN, "the first ID is 300");

	for (i = 0; i < 6; i++)
		first[i] = pid_alloc(vm, VM_NEXTFIT);
	printf("  next fit: allocated %lu %lu %lu %lu %lu %lu\n",
	    (unsigned long)first[0], (unsigned long)first[1],
	    (unsigned long)first[2], (unsigned long)first[3],
	    (unsigned long)first[4], (unsigned long)first[5]);
	printf("  next fit: processes %lu and %lu exit\n",
	    (unsigned long)first[1], (unsigned long)first[2]);
	vmem_free(vm, first[1], 1);
	vmem_free(vm, first[2], 1);
	pid = pid_alloc(vm, VM_NEXTFIT);
	reused = pid == first[1] || pid == first[2];
	printf("  next fit: next ID is %lu -- %s\n", (unsigned long)pid,
	    reused ? "a reused one" : "not reused: the search goes on "
	    "from the last ID handed out");
	claim(!reused, "next fit does not reuse a just-freed ID");
	claim(pid == first[5] + 1, "next fit continues after the last ID");
	vmem_free(vm, first[0], 1);
	vmem_free(vm, first[3], 1);
	vmem_free(vm, first[4], 1);
	vmem_free(vm, first[5], 1);
	vmem_free(vm, pid, 1);

	/*
	 * A busy system: PID_RUNNING processes alive at any time, the
	 * oldest exits whenever a new one starts.  Run long enough to go
	 * past the top of the range and wrap.
	 */
	printf("\n  simulating a busy system: %d processes alive, the "
	    "oldest exits as each new one starts\n", PID_RUNNING);
	while (wrapped == 0 || spawned < 40000) {
		if (n == PID_RUNNING) {
			vmem_free(vm, ring[head], 1);
			n--;
		}
		pid = pid_alloc(vm, VM_NEXTFIT);
		spawned++;
		if (pid < last && wrapped == 0) {
			wrapped = pid;
			printf("  after %lu processes: ID %lu was followed "
			    "by ID %lu (wrapped; %lu is init's)\n",
			    spawned, (unsigned long)last,
			    (unsigned long)pid, (unsigned long)init);
			claim(last == PID_LIMIT - 1,
			    "the wrap happens at the top of the range");
			claim(pid != init, "the wrap skips the live init");
		}
		claim(pid != init, "a live ID is never handed out twice");
		last = pid;
		ring[head] = pid;
		head = (head + 1) % PID_RUNNING;
		n++;
	}
	printf("  after %lu processes the last ID was %lu, with %u alive "
	    "(plus init)\n", spawned, (unsigned long)last, n);
	show_sizes(vm, "pid arena", false);
	claim(vmem_size(vm, VMEM_ALLOC) == (vmem_size_t)n + 1,
	    "allocated IDs == live processes");

	/* Everyone exits; only init remains. */
	for (i = 0; i < n; i++)
		vmem_free(vm, ring[(head + i) % PID_RUNNING], 1);
	printf("  all but init exit:\n");
	show_sizes(vm, "pid arena", false);
	show_arena(vm);
	vmem_free(vm, init, 1);
	vmem_destroy(vm);
}

/* ---- 2. a PCI memory window */

#define	WIN_BASE	((vmem_addr_t)0xc0000000)
#define	WIN_SIZE	(4 * GiB)
#define	DMA_LIMIT	((vmem_addr_t)0xcfffffff)	/* inclusive */

struct bar {
	const char *name;
	vmem_size_t size;
	vmem_addr_t addr;
};

static void
print_range(const char *what, vmem_addr_t addr, vmem_size_t size)
{
	char s[32];

	printf("  %-34s [%#011" PRIxPTR ", %#011" PRIxPTR ")  %s\n", what,
	    addr, addr + size, hsize(size, s, sizeof(s)));
}

/*
 * The largest naturally aligned BAR that still fits, for a 32-bit BAR
 * (below 4 GiB) and a 64-bit one.  Probing allocates and frees.
 */
static void
largest_bar(vmem_t *vm)
{
	static const struct {
		const char *kind;
		vmem_addr_t maxaddr;
	} kinds[] = {
		{ "32-bit", 0xffffffff },
		{ "64-bit", VMEM_ADDR_MAX },
	};
	vmem_addr_t addr;
	vmem_size_t sz;
	char s[32];
	size_t k;

	for (k = 0; k < 2; k++) {
		for (sz = 4 * GiB; sz >= 4 * KiB; sz /= 2)
			if (vmem_xalloc(vm, sz, sz, 0, 0, VMEM_ADDR_MIN,
			    kinds[k].maxaddr, VM_BESTFIT | VM_NOSLEEP,
			    &addr) == 0)
				break;
		if (sz < 4 * KiB) {
			printf("  largest %s BAR that fits: none\n",
			    kinds[k].kind);
			continue;
		}
		printf("  largest %s BAR that fits: %s at %#" PRIxPTR "\n",
		    kinds[k].kind, hsize(sz, s, sizeof(s)), addr);
		vmem_xfree(vm, addr, sz);
	}
}

/* A request that must fail with ENOMEM; say why. */
static void
refused(vmem_t *vm, const char *what, const char *why, vmem_size_t size,
    vmem_size_t align, vmem_addr_t maxaddr)
{
	vmem_addr_t addr;
	int error;

	error = vmem_xalloc(vm, size, align, 0, 0, VMEM_ADDR_MIN, maxaddr,
	    VM_BESTFIT | VM_NOSLEEP, &addr);
	if (error == ENOMEM)
		printf("  %-34s ENOMEM (%s)\n", what, why);
	else
		printf("  %-34s %s\n", what, strerror(error));
	claim(error == ENOMEM, what);
	if (error == 0)
		vmem_xfree(vm, addr, size);
}

static void
demo_pci(void)
{
	static struct bar bars[] = {
		{ "nvme0 BAR0 (registers)", 16 * KiB, 0 },
		{ "eth0 BAR0 (registers)", 128 * KiB, 0 },
		{ "eth0 BAR2 (MSI-X table)", 16 * KiB, 0 },
		{ "xhci0 BAR0 (registers)", 64 * KiB, 0 },
		{ "gpu0 BAR0 (framebuffer)", 256 * MiB, 0 },
		{ "gpu0 BAR2 (doorbells)", 32 * MiB, 0 },
	};
	enum { GPU_BAR0 = 4, GPU_BAR2 = 5 };	/* the last two */
	const size_t nbars = sizeof(bars) / sizeof(bars[0]);
	const vmem_addr_t ioapic = 0xfec00000;
	const vmem_size_t dmasize = 48 * KiB, nocross = 64 * KiB;
	vmem_t *vm;
	vmem_addr_t dma = 0;
	bool have_dma = false, have_ioapic = false;
	size_t i;
	int error;

	section("2. Carving a PCI memory window: 4 GiB at 0xc0000000, "
	    "quantum 4 KiB");

	vm = vmem_create("pcimem", WIN_BASE, WIN_SIZE, 4 * KiB,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	if (vm == NULL) {
		printf("  vmem_create failed\n");
		exit(1);
	}

	/* A memory BAR is naturally aligned: alignment = size. */
	for (i = 0; i < nbars; i++) {
		error = vmem_xalloc(vm, bars[i].size, bars[i].size, 0, 0,
		    VMEM_ADDR_MIN, VMEM_ADDR_MAX, VM_BESTFIT | VM_NOSLEEP,
		    &bars[i].addr);
		if (error != 0) {
			printf("  %s: %s\n", bars[i].name, strerror(error));
			failures++;
			continue;
		}
		print_range(bars[i].name, bars[i].addr, bars[i].size);
		claim(bars[i].addr % bars[i].size == 0,
		    "a BAR is aligned to its size");
	}

	/*
	 * A DMA engine with 28 address bits above the window base and a
	 * 16-bit transfer counter: the buffer must lie below 0xd0000000
	 * and must not cross a 64 KiB boundary.
	 */
	error = vmem_xalloc(vm, dmasize, 0, 0, nocross, VMEM_ADDR_MIN,
	    DMA_LIMIT, VM_BESTFIT | VM_NOSLEEP, &dma);
	if (error == 0) {
		have_dma = true;
		print_range("DMA buffer (no 64K cross, <0xd0..)", dma,
		    dmasize);
		claim(dma / nocross == (dma + dmasize - 1) / nocross,
		    "the DMA buffer does not cross 64 KiB");
		claim(dma + dmasize - 1 <= DMA_LIMIT,
		    "the DMA buffer lies below 0xd0000000");
	} else {
		printf("  DMA buffer: %s\n", strerror(error));
		failures++;
	}

	/* A legacy device decodes a fixed address: take exactly it. */
	error = vmem_xalloc_addr(vm, ioapic, 4 * KiB, VM_NOSLEEP);
	if (error == 0) {
		have_ioapic = true;
		print_range("I/O APIC (fixed address)", ioapic, 4 * KiB);
	} else {
		printf("  I/O APIC at %#" PRIxPTR ": %s\n", ioapic,
		    strerror(error));
		failures++;
	}
	error = vmem_xalloc_addr(vm, ioapic, 4 * KiB, VM_NOSLEEP);
	printf("  %-34s %s\n", "the same fixed address again:",
	    error == ENOMEM ? "ENOMEM (taken)" : strerror(error));
	claim(error == ENOMEM, "a fixed address cannot be taken twice");

	/*
	 * Requests that cannot be met fail with ENOMEM, even though the
	 * window has plenty of free space in total.
	 */
	refused(vm, "512 MiB below 0xd0000000:", "only 256 MiB lie there",
	    512 * MiB, 0, DMA_LIMIT);
	refused(vm, "a 4 GiB BAR (aligned to 4 GiB):",
	    "the window is not 4 GiB-aligned", 4 * GiB, 4 * GiB,
	    VMEM_ADDR_MAX);

	printf("\n");
	show_sizes(vm, "pcimem", true);
	largest_bar(vm);
	show_arena(vm);
	printf("  -- vmem_whatis(0xfec00800), vmem_whatis(0xfed00000):\n");
	vmem_whatis(0xfec00800, pr);
	vmem_whatis(0xfed00000, pr);

	/* Hot-unplug the GPU: its two BARs go back to the window. */
	printf("\n  gpu0 is removed:\n");
	for (i = GPU_BAR0; i <= GPU_BAR2; i++)
		if (bars[i].addr != 0)
			vmem_xfree(vm, bars[i].addr, bars[i].size);
	show_sizes(vm, "pcimem", true);
	largest_bar(vm);

	for (i = 0; i < nbars; i++)
		if (i < GPU_BAR0 && bars[i].addr != 0)
			vmem_xfree(vm, bars[i].addr, bars[i].size);
	if (have_dma)
		vmem_xfree(vm, dma, dmasize);
	if (have_ioapic)
		vmem_xfree(vm, ioapic, 4 * KiB);
	show_sizes(vm, "pcimem, all freed", true);
	claim(vmem_size(vm, VMEM_ALLOC) == 0, "everything came back");
	vmem_destroy(vm);
}

/* ---- 3. stacked arenas */

#define	CHUNK		(64 * KiB)	/* what the child imports at a time */

static unsigned int nimport, nrelease;

/*
 * The child's import function (vmem_xcreate form): take at least a
 * 64 KiB chunk of pages from the parent and say how much was taken.
 */
static int
buf_import(void *arg, vmem_size_t size, vmem_size_t *actual, vm_flag_t fl,
    vmem_addr_t *addrp)
{
	vmem_t *parent = arg;
	vmem_size_t sz;
	char s[32];
	int error;

	sz = size < CHUNK ? CHUNK : vmem_roundup_size(parent, size);
	error = vmem_alloc(parent, sz,
	    (fl & (VM_SLEEP | VM_NOSLEEP)) | VM_INSTANTFIT, addrp);
	if (error == 0) {
		*actual = sz;
		nimport++;
		printf("    (import: %s from the parent at %#" PRIxPTR ")\n",
		    hsize(sz, s, sizeof(s)), *addrp);
	}
	return error;
}

static void
buf_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	vmem_t *parent = arg;
	char s[32];

	nrelease++;
	printf("    (release: %s at %#" PRIxPTR " back to the parent)\n",
	    hsize(size, s, sizeof(s)), addr);
	vmem_free(parent, addr, size);
}

static void
demo_stacked(void)
{
	enum { NOBJ = 24, OBJSZ = 4 * KiB, PERCHUNK = CHUNK / OBJSZ };
	vmem_addr_t obj[NOBJ], big;
	vmem_t *parent, *child;
	unsigned int i;
	int error;

	section("3. Stacked arenas: a 1 KiB-quantum buffer arena over a "
	    "page arena");

	parent = vmem_create("kva", 0x7f0000000000, 1 * GiB, 4 * KiB,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	child = vmem_xcreate("buf", 0, 0, 1 * KiB, buf_import, buf_release,
	    parent, 0, VM_SLEEP, IPL_NONE);
	if (parent == NULL || child == NULL) {
		printf("  vmem_create failed\n");
		exit(1);
	}
	show_sizes(child, "buf (empty, no span yet)", true);

	printf("  allocating %d buffers of 4 KiB:\n", NOBJ);
	for (i = 0; i < NOBJ; i++) {
		error = vmem_alloc(child, OBJSZ, VM_INSTANTFIT | VM_SLEEP,
		    &obj[i]);
		claim(error == 0, "VM_SLEEP allocation succeeds");
	}
	printf("  allocating one 200 KiB buffer:\n");
	error = vmem_alloc(child, 200 * KiB, VM_INSTANTFIT | VM_SLEEP, &big);
	claim(error == 0, "VM_SLEEP allocation succeeds");
	claim(nimport == 3, "two 64 KiB chunks plus one 200 KiB import");
	show_sizes(child, "buf", true);
	show_sizes(parent, "kva", true);

	printf("\n  freeing the first %d buffers (all of the first chunk):\n",
	    PERCHUNK);
	for (i = 0; i < PERCHUNK; i++)
		vmem_free(child, obj[i], OBJSZ);
	claim(nrelease == 1, "the first chunk went back when it emptied");
	show_sizes(child, "buf", true);
	show_arena(child);

	printf("\n  freeing the rest:\n");
	for (i = PERCHUNK; i < NOBJ; i++)
		vmem_free(child, obj[i], OBJSZ);
	vmem_free(child, big, 200 * KiB);
	claim(nrelease == 3, "every chunk went back");
	show_sizes(child, "buf", true);
	show_sizes(parent, "kva", true);
	claim(vmem_size(parent, VMEM_ALLOC) == 0,
	    "the parent got every page back");

	vmem_destroy(child);
	vmem_destroy(parent);
}

int
main(void)
{

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("nbmem %s: vmem(3) walkthrough\n", nbmem_version());
	demo_pid();
	demo_pci();
	demo_stacked();
	if (failures != 0) {
		printf("\n%d claim(s) did not hold\n", failures);
		return 1;
	}
	printf("\nAll claims held.\n");
	return 0;
}
