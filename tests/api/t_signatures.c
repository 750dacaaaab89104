/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The compatibility headers against NetBSD's own declarations, for the
 * ported code that relies on them: every function the reference
 * specification lists (1.2, 2.1, 3.1, 4.1, 5.1) has the type of
 * NetBSD's prototype (vmem.h 1.22 and the 2023 additions, pool.h 1.96,
 * kmem.h 1.12, uvm_extern.h 1.232); every flag of the tables 0.4, 1.3,
 * 2.2 and 5.2, and every other constant the specification gives a value,
 * has NetBSD's value; the typedefs have NetBSD's types, widths and
 * signedness; the struct fields ported code reads or initialises have
 * NetBSD's types.  These checks are made at compile time: a mismatch
 * stops the build of this program with the name of what differs.  The
 * test cases call every allocator through pointers of NetBSD's types.
 *
 * Each header is included just before the checks of what NetBSD
 * declares in it, so that those names must come from it and not from a
 * header included later (NetBSD's <sys/vmem.h> declares kmem_arena, for
 * one).
 *
 * Deliberate differences are not checked: pool_cache_get() is a
 * function here (only the type of a call is checked, as for the macros
 * pool_cache_put() and kmem_strdup()), and spl0() returns the previous
 * level (nbmem(3)) where NetBSD's returns nothing, so only its calls
 * compile the same.
 */

/* two types are the same (compatible) type */
#define	SAME(a, b)	__builtin_types_compatible_p(a, b)
/* fn has NetBSD's prototype: return type ret, parameters args */
#define	PROTO(ret, fn, args)						\
	_Static_assert(SAME(__typeof__(&(fn)), ret (*)args),		\
	    #fn ": not NetBSD's prototype")
/* a typedef (or the type of a variable) is NetBSD's */
#define	TYPE(t, netbsd)							\
	_Static_assert(SAME(t, netbsd), #t ": not NetBSD's " #netbsd)
/* an expression (a macro's expansion, a global) has NetBSD's type */
#define	EXPR(netbsd, e)							\
	_Static_assert(SAME(__typeof__(e), netbsd),			\
	    #e ": not of NetBSD's type " #netbsd)
/* a struct field has NetBSD's type */
#define	FIELD(s, f, netbsd)						\
	_Static_assert(SAME(__typeof__(((s *)0)->f), netbsd),		\
	    #s "." #f ": not NetBSD's " #netbsd)
/* a constant has NetBSD's value */
#define	VALUE(c, netbsd)						\
	_Static_assert((c) == (netbsd), #c ": not NetBSD's " #netbsd)
/* an unsigned integer type as wide as a pointer */
#define	UWORD(t)							\
	_Static_assert(sizeof(t) == sizeof(void *) && (t)-1 > 0,	\
	    #t ": not an unsigned integer as wide as a pointer")

/* ---- <sys/vmem.h>: spec 1.1 to 1.3 */
#include <sys/vmem.h>

TYPE(vmem_t, struct vmem);
TYPE(vm_flag_t, unsigned int);
TYPE(vmem_addr_t, uintptr_t);
TYPE(vmem_size_t, size_t);
UWORD(vmem_addr_t);
UWORD(vmem_size_t);	/* the fit routine relies on the same width */
TYPE(vmem_import_t, int (void *, vmem_size_t, vm_flag_t, vmem_addr_t *));
TYPE(vmem_release_t, void (void *, vmem_addr_t, vmem_size_t));
TYPE(vmem_ximport_t,
    int (void *, vmem_size_t, vmem_size_t *, vm_flag_t, vmem_addr_t *));

VALUE(VMEM_ADDR_MIN, 0);
EXPR(vmem_addr_t, VMEM_ADDR_MAX);
VALUE(VMEM_ADDR_MAX, UINTPTR_MAX);
VALUE(VMEM_ALLOC, 0x01);
VALUE(VMEM_FREE, 0x02);

EXPR(vmem_t *, kmem_arena);
EXPR(vmem_t *, kmem_meta_arena);
EXPR(vmem_t *, kmem_va_arena);

VALUE(VM_SLEEP, 0x00000001);
VALUE(VM_NOSLEEP, 0x00000002);
VALUE(VM_INSTANTFIT, 0x00001000);
VALUE(VM_BESTFIT, 0x00002000);
VALUE(VM_BOOTSTRAP, 0x00010000);
VALUE(VM_POPULATING, 0x00040000);
VALUE(VM_LARGEIMPORT, 0x00080000);
VALUE(VM_XIMPORT, 0x00100000);
VALUE(VM_PRIVTAGS, 0x00200000);	/* the spec's belief (13.1) */

PROTO(vmem_t *, vmem_create, (const char *, vmem_addr_t, vmem_size_t,
    vmem_size_t, vmem_import_t *, vmem_release_t *, void *, vmem_size_t,
    vm_flag_t, int));
PROTO(vmem_t *, vmem_xcreate, (const char *, vmem_addr_t, vmem_size_t,
    vmem_size_t, vmem_ximport_t *, vmem_release_t *, void *, vmem_size_t,
    vm_flag_t, int));
PROTO(vmem_t *, vmem_init, (vmem_t *, const char *, vmem_addr_t,
    vmem_size_t, vmem_size_t, vmem_import_t *, vmem_release_t *, void *,
    vmem_size_t, vm_flag_t, int));
PROTO(void, vmem_destroy, (vmem_t *));
PROTO(int, vmem_alloc, (vmem_t *, vmem_size_t, vm_flag_t, vmem_addr_t *));
PROTO(void, vmem_free, (vmem_t *, vmem_addr_t, vmem_size_t));
PROTO(int, vmem_xalloc, (vmem_t *, vmem_size_t, vmem_size_t, vmem_size_t,
    vmem_size_t, vmem_addr_t, vmem_addr_t, vm_flag_t, vmem_addr_t *));
PROTO(int, vmem_xalloc_addr, (vmem_t *, vmem_addr_t, vmem_size_t,
    vm_flag_t));
PROTO(void, vmem_xfree, (vmem_t *, vmem_addr_t, vmem_size_t));
PROTO(void, vmem_xfreeall, (vmem_t *));
PROTO(int, vmem_add, (vmem_t *, vmem_addr_t, vmem_size_t, vm_flag_t));
PROTO(void, vmem_add_bts, (vmem_t *, struct vmem_btag *, unsigned int));
PROTO(vmem_size_t, vmem_roundup_size, (vmem_t *, vmem_size_t));
PROTO(vmem_size_t, vmem_size, (vmem_t *, int));
PROTO(void, vmem_subsystem_init, (vmem_t *));
PROTO(void, vmem_rehash_start, (void));
PROTO(void, vmem_whatis, (uintptr_t, void (*)(const char *, ...)));
PROTO(void, vmem_print, (uintptr_t, const char *,
    void (*)(const char *, ...)));
PROTO(void, vmem_printall, (const char *, void (*)(const char *, ...)));

/* ---- <sys/vmem_impl.h>: arena and tag storage for vmem_init */
#include <sys/vmem_impl.h>

VALUE(VMEM_NAME_MAX, 16);
VALUE(VMEM_QCACHE_IDX_MAX, 16);
/* complete types, and a tag count usable as an array bound */
static struct vmem sig_arena_store;
static struct vmem_btag sig_btag_store[VMEM_EST_BTCOUNT(1, 8)];

/* ---- <sys/kmem.h>: spec 4.1 */
#include <sys/kmem.h>

TYPE(km_flag_t, unsigned int);
VALUE(KM_SLEEP, 0x00000001);
VALUE(KM_NOSLEEP, 0x00000002);

PROTO(void, kmem_init, (void));
PROTO(size_t, kmem_roundup_size, (size_t));
PROTO(void *, kmem_alloc, (size_t, km_flag_t));
PROTO(void *, kmem_zalloc, (size_t, km_flag_t));
PROTO(void, kmem_free, (void *, size_t));
PROTO(void *, kmem_intr_alloc, (size_t, km_flag_t));
PROTO(void *, kmem_intr_zalloc, (size_t, km_flag_t));
PROTO(void, kmem_intr_free, (void *, size_t));
PROTO(char *, kmem_asprintf, (const char *, ...));
PROTO(char *, kmem_strdupsize, (const char *, size_t *, km_flag_t));
EXPR(char *, kmem_strdup("", KM_SLEEP));
PROTO(char *, kmem_strndup, (const char *, size_t, km_flag_t));
PROTO(void, kmem_strfree, (char *));
PROTO(void *, kmem_tmpbuf_alloc, (size_t, void *, size_t, km_flag_t));
PROTO(void, kmem_tmpbuf_free, (void *, size_t, void *));

/* ---- <sys/intr.h>: the levels in NetBSD's order (7.1), spl(9) */
#include <sys/intr.h>

_Static_assert(IPL_NONE < IPL_SOFTCLOCK && IPL_SOFTCLOCK <= IPL_SOFTBIO &&
    IPL_SOFTBIO <= IPL_SOFTNET && IPL_SOFTNET <= IPL_SOFTSERIAL &&
    IPL_SOFTSERIAL < IPL_VM && IPL_VM < IPL_SCHED && IPL_SCHED < IPL_HIGH,
    "the IPL_* levels are not in NetBSD's order");
PROTO(int, splvm, (void));
PROTO(int, splsched, (void));
PROTO(int, splhigh, (void));
PROTO(int, splsoftnet, (void));
PROTO(void, splx, (int));
PROTO(bool, cpu_intr_p, (void));

/* ---- <sys/pool.h>: spec 2.1 to 2.5, 3.1, 8.1 */
#include <sys/pool.h>

VALUE(PR_WAITOK, 0x01);
VALUE(PR_NOWAIT, 0x02);
VALUE(PR_WANTED, 0x04);
VALUE(PR_PHINPAGE, 0x40);
VALUE(PR_LIMITFAIL, 0x100);
VALUE(PR_RECURSIVE, 0x200);
VALUE(PR_NOTOUCH, 0x400);
VALUE(PR_NOALIGN, 0x800);
VALUE(PR_LARGECACHE, 0x1000);
VALUE(PR_GROWING, 0x2000);
VALUE(PR_GROWINGNOWAIT, 0x4000);
VALUE(PR_ZERO, 0x8000);
VALUE(PR_USEBMAP, 0x10000);
VALUE(PR_PSERIALIZE, 0x20000);
EXPR(paddr_t, POOL_PADDR_INVALID);
VALUE(POOL_PADDR_INVALID, (paddr_t)-1);

/* 0.4: the sleep flags of the three layers pass through unchanged */
VALUE(PR_WAITOK, VM_SLEEP);
VALUE(PR_WAITOK, KM_SLEEP);
VALUE(PR_NOWAIT, VM_NOSLEEP);
VALUE(PR_NOWAIT, KM_NOSLEEP);

TYPE(pool_cache_t, struct pool_cache *);

/*
 * struct pool_allocator: NetBSD's three public fields, first and in
 * NetBSD's order, so that positional initialisers fill them too.
 */
FIELD(struct pool_allocator, pa_alloc, void *(*)(struct pool *, int));
FIELD(struct pool_allocator, pa_free, void (*)(struct pool *, void *));
FIELD(struct pool_allocator, pa_pagesz, unsigned int);
VALUE(offsetof(struct pool_allocator, pa_alloc), 0);
VALUE(offsetof(struct pool_allocator, pa_free), sizeof(void (*)(void)));
VALUE(offsetof(struct pool_allocator, pa_pagesz),
    2 * sizeof(void (*)(void)));

/* struct pool: the fields of 2.5, with pool.h 1.96's types */
FIELD(struct pool, pr_wchan, const char *);
FIELD(struct pool, pr_size, unsigned int);
FIELD(struct pool, pr_reqsize, size_t);
FIELD(struct pool, pr_align, unsigned int);
FIELD(struct pool, pr_itemsperpage, unsigned int);
FIELD(struct pool, pr_alloc, struct pool_allocator *);
FIELD(struct pool, pr_roflags, unsigned int);
FIELD(struct pool, pr_flags, unsigned int);
FIELD(struct pool, pr_ipl, int);
FIELD(struct pool, pr_nitems, unsigned int);
FIELD(struct pool, pr_nout, unsigned int);
FIELD(struct pool, pr_npages, unsigned int);
FIELD(struct pool, pr_minitems, unsigned int);
FIELD(struct pool, pr_maxitems, unsigned int);
FIELD(struct pool, pr_minpages, unsigned int);
FIELD(struct pool, pr_maxpages, unsigned int);
FIELD(struct pool, pr_hardlimit, unsigned int);
FIELD(struct pool, pr_nget, unsigned long);
FIELD(struct pool, pr_nfail, unsigned long);
FIELD(struct pool, pr_nput, unsigned long);
FIELD(struct pool, pr_npagealloc, unsigned long);
FIELD(struct pool, pr_npagefree, unsigned long);
FIELD(struct pool, pr_hiwat, unsigned int);
FIELD(struct pool, pr_nidle, unsigned long);
FIELD(struct pool, pr_cache, struct pool_cache *);
FIELD(struct pool, pr_drain_hook, void (*)(void *, int));
FIELD(struct pool, pr_drain_hook_arg, void *);
FIELD(struct pool, pr_qcache, void *);

/* struct pool_cache: its pool first, as NetBSD lays it out */
FIELD(struct pool_cache, pc_pool, struct pool);
VALUE(offsetof(struct pool_cache, pc_pool), 0);

/* struct pool_sysctl, the kern.pool record of 8.1, field by field */
#define	SYSCTL_FIELD(f, i)						\
	FIELD(struct pool_sysctl, f, uint64_t);				\
	VALUE(offsetof(struct pool_sysctl, f), 16 + 8 * (i))
FIELD(struct pool_sysctl, pr_wchan, char [16]);
VALUE(offsetof(struct pool_sysctl, pr_wchan), 0);
SYSCTL_FIELD(pr_flags, 0);
SYSCTL_FIELD(pr_size, 1);
SYSCTL_FIELD(pr_pagesize, 2);
SYSCTL_FIELD(pr_itemsperpage, 3);
SYSCTL_FIELD(pr_nitems, 4);
SYSCTL_FIELD(pr_nout, 5);
SYSCTL_FIELD(pr_hardlimit, 6);
SYSCTL_FIELD(pr_npages, 7);
SYSCTL_FIELD(pr_minpages, 8);
SYSCTL_FIELD(pr_maxpages, 9);
SYSCTL_FIELD(pr_nget, 10);
SYSCTL_FIELD(pr_nfail, 11);
SYSCTL_FIELD(pr_nput, 12);
SYSCTL_FIELD(pr_npagealloc, 13);
SYSCTL_FIELD(pr_npagefree, 14);
SYSCTL_FIELD(pr_hiwat, 15);
SYSCTL_FIELD(pr_nidle, 16);
SYSCTL_FIELD(pr_cache_meta_size, 17);
SYSCTL_FIELD(pr_cache_nfull, 18);
SYSCTL_FIELD(pr_cache_npartial, 19);
SYSCTL_FIELD(pr_cache_nempty, 20);
SYSCTL_FIELD(pr_cache_ncontended, 21);
SYSCTL_FIELD(pr_cache_nmiss_global, 22);
SYSCTL_FIELD(pr_cache_nhit_global, 23);
SYSCTL_FIELD(pr_cache_nmiss_pcpu, 24);
SYSCTL_FIELD(pr_cache_nhit_pcpu, 25);
VALUE(sizeof(struct pool_sysctl), 16 + 8 * 26);

EXPR(struct pool_allocator, pool_allocator_kmem);
EXPR(struct pool_allocator, pool_allocator_nointr);
EXPR(struct pool_allocator, pool_allocator_meta);

PROTO(void, pool_subsystem_init, (void));
PROTO(void, pool_init, (struct pool *, size_t, unsigned int, unsigned int,
    int, const char *, struct pool_allocator *, int));
PROTO(void, pool_destroy, (struct pool *));
PROTO(void, pool_set_drain_hook, (struct pool *, void (*)(void *, int),
    void *));
PROTO(void *, pool_get, (struct pool *, int));
PROTO(void, pool_put, (struct pool *, void *));
PROTO(int, pool_reclaim, (struct pool *));
PROTO(void, pool_prime, (struct pool *, int));
PROTO(void, pool_setlowat, (struct pool *, int));
PROTO(void, pool_sethiwat, (struct pool *, int));
PROTO(void, pool_sethardlimit, (struct pool *, int, const char *, int));
PROTO(bool, pool_drain, (struct pool **));
PROTO(int, pool_totalpages, (void));
PROTO(int, pool_totalpages_locked, (void));
PROTO(unsigned int, pool_nget, (struct pool *));
PROTO(unsigned int, pool_nput, (struct pool *));
PROTO(void, pool_printit, (struct pool *, const char *,
    void (*)(const char *, ...)));
PROTO(void, pool_printall, (const char *, void (*)(const char *, ...)));
PROTO(int, pool_chk, (struct pool *, const char *));
PROTO(void, pool_whatis, (uintptr_t, void (*)(const char *, ...)));

PROTO(pool_cache_t, pool_cache_init, (size_t, unsigned int, unsigned int,
    unsigned int, const char *, struct pool_allocator *, int,
    int (*)(void *, void *, int), void (*)(void *, void *), void *));
PROTO(void, pool_cache_bootstrap, (pool_cache_t, size_t, unsigned int,
    unsigned int, unsigned int, const char *, struct pool_allocator *, int,
    int (*)(void *, void *, int), void (*)(void *, void *), void *));
PROTO(void, pool_cache_destroy, (pool_cache_t));
PROTO(void, pool_cache_bootstrap_destroy, (pool_cache_t));
PROTO(void *, pool_cache_get_paddr, (pool_cache_t, int, paddr_t *));
PROTO(void, pool_cache_put_paddr, (pool_cache_t, void *, paddr_t));
EXPR(void *, pool_cache_get((pool_cache_t)0, PR_NOWAIT));
EXPR(void, pool_cache_put((pool_cache_t)0, (void *)0));
PROTO(void, pool_cache_destruct_object, (pool_cache_t, void *));
PROTO(void, pool_cache_invalidate, (pool_cache_t));
PROTO(bool, pool_cache_reclaim, (pool_cache_t));
PROTO(void, pool_cache_set_drain_hook, (pool_cache_t,
    void (*)(void *, int), void *));
PROTO(void, pool_cache_setlowat, (pool_cache_t, int));
PROTO(void, pool_cache_sethiwat, (pool_cache_t, int));
PROTO(void, pool_cache_sethardlimit, (pool_cache_t, int, const char *,
    int));
PROTO(void, pool_cache_prime, (pool_cache_t, int));
PROTO(void, pool_cache_cpu_init, (struct cpu_info *));
PROTO(unsigned int, pool_cache_nget, (pool_cache_t));
PROTO(unsigned int, pool_cache_nput, (pool_cache_t));

/* ---- <uvm/uvm_extern.h>: spec 5.1, 5.2 */
#include <uvm/uvm_extern.h>

UWORD(vaddr_t);
UWORD(vsize_t);
UWORD(paddr_t);
#ifdef __LP64__
/* what every 64-bit NetBSD port declares them as */
TYPE(vaddr_t, unsigned long);
TYPE(vsize_t, unsigned long);
TYPE(paddr_t, unsigned long);
#endif
TYPE(vm_prot_t, int);
TYPE(uvm_flag_t, unsigned int);

VALUE(UVM_KMF_WIRED, 0x1);
VALUE(UVM_KMF_PAGEABLE, 0x2);
VALUE(UVM_KMF_VAONLY, 0x4);
VALUE(UVM_KMF_TYPEMASK, 0x7);
VALUE(UVM_KMF_CANFAIL, 0x8);
VALUE(UVM_KMF_ZERO, 0x10);
VALUE(UVM_KMF_EXEC, 0x20);
VALUE(UVM_FLAG_TRYLOCK, 0x00200000);
VALUE(UVM_FLAG_NOWAIT, 0x00400000);
VALUE(UVM_FLAG_WAITVA, 0x00800000);
VALUE(UVM_FLAG_COLORMATCH, 0x04000000);
VALUE(UVM_KMF_TRYLOCK, UVM_FLAG_TRYLOCK);
VALUE(UVM_KMF_NOWAIT, UVM_FLAG_NOWAIT);
VALUE(UVM_KMF_WAITVA, UVM_FLAG_WAITVA);
VALUE(UVM_KMF_COLORMATCH, UVM_FLAG_COLORMATCH);
/* uvm_km_protect's protections: NetBSD's uvm_prot.h */
VALUE(VM_PROT_NONE, 0x0);
VALUE(VM_PROT_READ, 0x1);
VALUE(VM_PROT_WRITE, 0x2);
VALUE(VM_PROT_EXECUTE, 0x4);

EXPR(struct vm_map *, kernel_map);

PROTO(vaddr_t, uvm_km_alloc, (struct vm_map *, vsize_t, vsize_t,
    uvm_flag_t));
PROTO(void, uvm_km_free, (struct vm_map *, vaddr_t, vsize_t, uvm_flag_t));
PROTO(int, uvm_km_protect, (struct vm_map *, vaddr_t, vsize_t, vm_prot_t));
PROTO(struct vm_map *, uvm_km_suballoc, (struct vm_map *, vaddr_t *,
    vaddr_t *, vsize_t, int, bool, struct vm_map *));
PROTO(int, uvm_km_kmem_alloc, (vmem_t *, vmem_size_t, vm_flag_t,
    vmem_addr_t *));
PROTO(void, uvm_km_kmem_free, (vmem_t *, vmem_addr_t, vmem_size_t));
PROTO(bool, uvm_km_va_starved_p, (void));

/* ---- <uvm/uvm_map.h>: submap storage and flags (5.3) */
#include <uvm/uvm_map.h>

VALUE(VM_MAP_PAGEABLE, 0x01);
VALUE(VM_MAP_INTRSAFE, 0x02);	/* in the releases that have it */
VALUE(VM_MAP_TOPDOWN, 0x40);
static struct vm_map sig_submap_store;

/* ---- the calls, through pointers of NetBSD's types */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

static size_t
page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Arenas stacked on another: the import gets the caller's flags, sleep
 * and strategy, which suit the parent's vmem_alloc as they are.
 */
static int
sig_import(void *source, vmem_size_t size, vm_flag_t flags,
    vmem_addr_t *addrp)
{
	return vmem_alloc(source, size, flags, addrp);
}

static void
sig_release(void *source, vmem_addr_t addr, vmem_size_t size)
{
	vmem_free(source, addr, size);
}

/* an import that reports twice the span it was asked for */
static int
sig_ximport(void *source, vmem_size_t size, vmem_size_t *actualp,
    vm_flag_t flags, vmem_addr_t *addrp)
{
	*actualp = 2 * size;
	return vmem_alloc(source, 2 * size, flags, addrp);
}

ATF_TC_WITHOUT_HEAD(vmem_calls);
ATF_TC_BODY(vmem_calls, tc)
{
	vmem_t *(*create)(const char *, vmem_addr_t, vmem_size_t,
	    vmem_size_t, vmem_import_t *, vmem_release_t *, void *,
	    vmem_size_t, vm_flag_t, int) = vmem_create;
	vmem_t *(*xcreate)(const char *, vmem_addr_t, vmem_size_t,
	    vmem_size_t, vmem_ximport_t *, vmem_release_t *, void *,
	    vmem_size_t, vm_flag_t, int) = vmem_xcreate;
	vmem_t *(*init)(vmem_t *, const char *, vmem_addr_t, vmem_size_t,
	    vmem_size_t, vmem_import_t *, vmem_release_t *, void *,
	    vmem_size_t, vm_flag_t, int) = vmem_init;
	int (*alloc)(vmem_t *, vmem_size_t, vm_flag_t, vmem_addr_t *) =
	    vmem_alloc;
	int (*xalloc)(vmem_t *, vmem_size_t, vmem_size_t, vmem_size_t,
	    vmem_size_t, vmem_addr_t, vmem_addr_t, vm_flag_t, vmem_addr_t *) =
	    vmem_xalloc;
	int (*xalloc_addr)(vmem_t *, vmem_addr_t, vmem_size_t, vm_flag_t) =
	    vmem_xalloc_addr;
	void (*freefn)(vmem_t *, vmem_addr_t, vmem_size_t) = vmem_free;
	void (*xfree)(vmem_t *, vmem_addr_t, vmem_size_t) = vmem_xfree;
	void (*xfreeall)(vmem_t *) = vmem_xfreeall;
	int (*add)(vmem_t *, vmem_addr_t, vmem_size_t, vm_flag_t) = vmem_add;
	void (*add_bts)(vmem_t *, struct vmem_btag *, unsigned int) =
	    vmem_add_bts;
	vmem_size_t (*roundup)(vmem_t *, vmem_size_t) = vmem_roundup_size;
	vmem_size_t (*sizefn)(vmem_t *, int) = vmem_size;
	void (*destroy)(vmem_t *) = vmem_destroy;
	vmem_t *vm, *child, *xchild;
	vmem_addr_t a, b, c;

	vm = (*create)("sig", 0x1000, 0x10000, 0x10, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK_EQ((*roundup)(vm, 1), 0x10);
	ATF_REQUIRE_EQ((*alloc)(vm, 0x20, VM_BESTFIT | VM_NOSLEEP, &a), 0);
	ATF_CHECK(a >= 0x1000 && a + 0x20 <= 0x11000 && a % 0x10 == 0);
	ATF_REQUIRE_EQ((*xalloc)(vm, 0x100, 0x100, 0, 0, 0x8000,
	    VMEM_ADDR_MAX, VM_BESTFIT | VM_NOSLEEP, &b), 0);
	ATF_CHECK(b >= 0x8000 && b % 0x100 == 0);
	c = 0x4000;
	ATF_REQUIRE_EQ((*xalloc_addr)(vm, c, 0x10, VM_NOSLEEP), 0);
	ATF_CHECK_EQ((*xalloc_addr)(vm, c, 0x10, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC), 0x130);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_FREE), 0x10000 - 0x130);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC | VMEM_FREE), 0x10000);
	ATF_REQUIRE_EQ((*add)(vm, 0x20000, 0x1000, VM_SLEEP), 0);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC | VMEM_FREE), 0x11000);
	(*freefn)(vm, a, 0x20);
	(*xfree)(vm, b, 0x100);
	(*xfree)(vm, c, 0x10);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC), 0);

	/* stacked on vm through the callbacks' types */
	child = (*create)("sig-child", 0, 0, 0x10, sig_import, sig_release,
	    vm, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(child != NULL);
	ATF_REQUIRE_EQ((*alloc)(child, 0x40, VM_INSTANTFIT | VM_SLEEP, &a), 0);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC), 0x40);
	(*freefn)(child, a, 0x40);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC), 0);	/* released */
	(*destroy)(child);
	xchild = (*xcreate)("sig-xchild", 0, 0, 0x10, sig_ximport,
	    sig_release, vm, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(xchild != NULL);
	ATF_REQUIRE_EQ((*alloc)(xchild, 0x40, VM_BESTFIT | VM_SLEEP, &a), 0);
	ATF_CHECK_EQ((*sizefn)(xchild, VMEM_ALLOC | VMEM_FREE), 0x80);
	(*freefn)(xchild, a, 0x40);
	(*destroy)(xchild);
	(*destroy)(vm);

	/* caller storage and private tags, as bus-space code has them */
	vm = (*init)(&sig_arena_store, "sig-priv", 0, 0, 1, NULL, NULL, NULL,
	    0, VM_NOSLEEP | VM_PRIVTAGS, IPL_VM);
	ATF_REQUIRE(vm == &sig_arena_store);
	(*add_bts)(vm, sig_btag_store, VMEM_EST_BTCOUNT(1, 8));
	ATF_REQUIRE_EQ((*add)(vm, 0, 0x10000, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ((*xalloc_addr)(vm, 0x100, 0x10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ((*xalloc_addr)(vm, 0x800, 0x10, VM_NOSLEEP), 0);
	(*xfreeall)(vm);
	ATF_CHECK_EQ((*sizefn)(vm, VMEM_ALLOC), 0);
	(*destroy)(vm);
}

static unsigned int sig_pages_out;

/* a pool allocator as NetBSD's are written: pages from kmem_va_arena */
static void *
sig_page_alloc(struct pool *pp, int flags)
{
	vm_flag_t vflags = ((flags & PR_WAITOK) ? VM_SLEEP : VM_NOSLEEP) |
	    VM_INSTANTFIT;
	vmem_addr_t va;

	if (uvm_km_kmem_alloc(kmem_va_arena, pp->pr_alloc->pa_pagesz, vflags,
	    &va) != 0)
		return NULL;
	sig_pages_out++;
	return (void *)va;
}

static void
sig_page_free(struct pool *pp, void *v)
{
	uvm_km_kmem_free(kmem_va_arena, (vmem_addr_t)v,
	    pp->pr_alloc->pa_pagesz);
	sig_pages_out--;
}

static struct pool_allocator sig_allocator = {
	.pa_alloc = sig_page_alloc,
	.pa_free = sig_page_free,
	.pa_pagesz = 0,		/* the page size */
};

ATF_TC_WITHOUT_HEAD(pool_calls);
ATF_TC_BODY(pool_calls, tc)
{
	void (*init)(struct pool *, size_t, unsigned int, unsigned int, int,
	    const char *, struct pool_allocator *, int) = pool_init;
	void *(*get)(struct pool *, int) = pool_get;
	void (*put)(struct pool *, void *) = pool_put;
	unsigned int (*nget)(struct pool *) = pool_nget;
	unsigned int (*nput)(struct pool *) = pool_nput;
	void (*destroy)(struct pool *) = pool_destroy;
	static const char name[] = "sig-pool";
	struct pool p;
	unsigned char *x, *y;
	unsigned int i;

	(*init)(&p, 100, 0, 0, 0, name, &sig_allocator, IPL_NONE);
	ATF_CHECK(p.pr_wchan == name);
	ATF_CHECK(p.pr_alloc == &sig_allocator);
	ATF_CHECK_EQ(sig_allocator.pa_pagesz, page_size());
	ATF_CHECK_EQ(p.pr_reqsize, 100);
	ATF_CHECK(p.pr_size >= 100 && p.pr_size % 8 == 0);
	ATF_CHECK(p.pr_itemsperpage >= 1 &&
	    p.pr_itemsperpage <= page_size() / p.pr_size);
	ATF_CHECK_EQ(p.pr_ipl, IPL_NONE);
	ATF_CHECK(p.pr_cache == NULL);

	x = (*get)(&p, PR_WAITOK);
	y = (*get)(&p, PR_NOWAIT | PR_ZERO);
	ATF_REQUIRE(x != NULL && y != NULL && x != y);
	for (i = 0; i < 100; i++)
		ATF_CHECK_EQ_MSG(y[i], 0, "byte %u", i);
	memset(x, 0xa5, 100);
	ATF_CHECK_EQ(p.pr_nout, 2);
	ATF_CHECK_EQ(p.pr_nget, 2);
	ATF_CHECK_EQ((*nget)(&p), 2);
	ATF_CHECK_EQ(p.pr_npages, 1);
	ATF_CHECK_EQ(p.pr_npagealloc, 1);
	ATF_CHECK_EQ(p.pr_nidle, 0);
	ATF_CHECK_EQ(sig_pages_out, 1);
	(*put)(&p, x);
	(*put)(&p, y);
	ATF_CHECK_EQ(p.pr_nout, 0);
	ATF_CHECK_EQ(p.pr_nput, 2);
	ATF_CHECK_EQ((*nput)(&p), 2);
	ATF_CHECK_EQ(p.pr_nidle, 1);
	(*destroy)(&p);
	ATF_CHECK_EQ(sig_pages_out, 0);
}

static int
sig_ctor(void *arg, void *obj, int flags)
{
	(*(unsigned int *)arg)++;
	memset(obj, 0x5a, 64);
	return 0;
}

static void
sig_dtor(void *arg, void *obj)
{
	(*(unsigned int *)arg)--;
}

ATF_TC_WITHOUT_HEAD(pool_cache_calls);
ATF_TC_BODY(pool_cache_calls, tc)
{
	pool_cache_t (*init)(size_t, unsigned int, unsigned int, unsigned int,
	    const char *, struct pool_allocator *, int,
	    int (*)(void *, void *, int), void (*)(void *, void *), void *) =
	    pool_cache_init;
	void *(*get_paddr)(pool_cache_t, int, paddr_t *) =
	    pool_cache_get_paddr;
	void (*put_paddr)(pool_cache_t, void *, paddr_t) =
	    pool_cache_put_paddr;
	void (*invalidate)(pool_cache_t) = pool_cache_invalidate;
	void (*destroy)(pool_cache_t) = pool_cache_destroy;
	unsigned int live = 0;
	pool_cache_t pc;
	unsigned char *x, *y;
	paddr_t pa = 0;

	pc = (*init)(64, 0, 0, 0, "sig-cache", NULL, IPL_VM, sig_ctor,
	    sig_dtor, &live);
	ATF_REQUIRE(pc != NULL);
	ATF_CHECK(pc->pc_pool.pr_cache == pc);
	x = pool_cache_get(pc, PR_WAITOK);
	y = (*get_paddr)(pc, PR_NOWAIT, &pa);
	ATF_REQUIRE(x != NULL && y != NULL && x != y);
	ATF_CHECK(pa == POOL_PADDR_INVALID);
	ATF_CHECK_EQ(live, 2);
	ATF_CHECK_EQ(x[63], 0x5a);
	pool_cache_put(pc, x);
	(*put_paddr)(pc, y, pa);
	(*invalidate)(pc);
	ATF_CHECK_EQ(live, 0);	/* every cached object destructed */
	(*destroy)(pc);
}

ATF_TC_WITHOUT_HEAD(kmem_calls);
ATF_TC_BODY(kmem_calls, tc)
{
	void *(*alloc)(size_t, km_flag_t) = kmem_alloc;
	void *(*zalloc)(size_t, km_flag_t) = kmem_zalloc;
	void (*freefn)(void *, size_t) = kmem_free;
	void *(*intr_alloc)(size_t, km_flag_t) = kmem_intr_alloc;
	void (*intr_free)(void *, size_t) = kmem_intr_free;
	char *(*ndup)(const char *, size_t, km_flag_t) = kmem_strndup;
	void (*strfree)(char *) = kmem_strfree;
	void *(*tmp_alloc)(size_t, void *, size_t, km_flag_t) =
	    kmem_tmpbuf_alloc;
	void (*tmp_free)(void *, size_t, void *) = kmem_tmpbuf_free;
	char stackbuf[32], *s;
	unsigned char *p;
	size_t len, i;
	void *t;

	p = (*alloc)(72, KM_SLEEP);
	ATF_REQUIRE(p != NULL);
	memset(p, 0xff, 72);
	(*freefn)(p, 72);
	p = (*zalloc)(300, KM_SLEEP);
	ATF_REQUIRE(p != NULL);
	for (i = 0; i < 300; i++)
		ATF_CHECK_EQ_MSG(p[i], 0, "byte %zu", i);
	(*freefn)(p, 300);
	p = (*intr_alloc)(16, KM_NOSLEEP);
	ATF_REQUIRE(p != NULL);
	(*intr_free)(p, 16);
	ATF_CHECK_EQ(kmem_roundup_size(1), 8);

	s = kmem_strdupsize("netbsd", &len, KM_SLEEP);
	ATF_CHECK_STREQ(s, "netbsd");
	ATF_CHECK_EQ(len, 7);
	(*strfree)(s);
	s = kmem_strdup("vmem", KM_SLEEP);
	ATF_CHECK_STREQ(s, "vmem");
	(*strfree)(s);
	s = (*ndup)("pool_cache", 4, KM_SLEEP);
	ATF_CHECK_STREQ(s, "pool");
	(*strfree)(s);
	s = kmem_asprintf("%s-%d", "kmem", 12);
	ATF_CHECK_STREQ(s, "kmem-12");
	(*freefn)(s, strlen(s) + 1);

	t = (*tmp_alloc)(16, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(t == stackbuf);
	(*tmp_free)(t, 16, stackbuf);
	t = (*tmp_alloc)(64, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(t != NULL && t != stackbuf);
	(*tmp_free)(t, 64, stackbuf);
}

ATF_TC_WITHOUT_HEAD(uvm_km_calls);
ATF_TC_BODY(uvm_km_calls, tc)
{
	vaddr_t (*alloc)(struct vm_map *, vsize_t, vsize_t, uvm_flag_t) =
	    uvm_km_alloc;
	void (*freefn)(struct vm_map *, vaddr_t, vsize_t, uvm_flag_t) =
	    uvm_km_free;
	int (*protect)(struct vm_map *, vaddr_t, vsize_t, vm_prot_t) =
	    uvm_km_protect;
	struct vm_map *(*suballoc)(struct vm_map *, vaddr_t *, vaddr_t *,
	    vsize_t, int, bool, struct vm_map *) = uvm_km_suballoc;
	int (*kmem_allocfn)(vmem_t *, vmem_size_t, vm_flag_t,
	    vmem_addr_t *) = uvm_km_kmem_alloc;
	void (*kmem_freefn)(vmem_t *, vmem_addr_t, vmem_size_t) =
	    uvm_km_kmem_free;
	bool (*starved)(void) = uvm_km_va_starved_p;
	size_t ps = page_size(), i;
	struct vm_map *sub;
	vaddr_t va, lo, hi;
	vmem_addr_t a;

	va = (*alloc)(kernel_map, 2 * ps, 0, UVM_KMF_WIRED | UVM_KMF_ZERO);
	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(va % ps, 0);
	for (i = 0; i < 2 * ps; i += 64)
		ATF_CHECK_EQ_MSG(((unsigned char *)va)[i], 0, "byte %zu", i);
	ATF_CHECK_EQ((*protect)(kernel_map, va, ps, VM_PROT_READ), 0);
	ATF_CHECK_EQ((*protect)(kernel_map, va, ps,
	    VM_PROT_READ | VM_PROT_WRITE), 0);
	((unsigned char *)va)[0] = 1;
	(*freefn)(kernel_map, va, 2 * ps, UVM_KMF_WIRED);

	sub = (*suballoc)(kernel_map, &lo, &hi, 4 * ps,
	    VM_MAP_PAGEABLE | VM_MAP_INTRSAFE | VM_MAP_TOPDOWN, false,
	    &sig_submap_store);
	ATF_REQUIRE(sub == &sig_submap_store);
	ATF_CHECK_EQ(hi - lo, 4 * ps);
	va = (*alloc)(sub, ps, 0, UVM_KMF_PAGEABLE | UVM_KMF_NOWAIT);
	ATF_REQUIRE(va != 0);
	ATF_CHECK(va >= lo && va + ps <= hi);
	(*freefn)(sub, va, ps, UVM_KMF_PAGEABLE);

	ATF_REQUIRE_EQ((*kmem_allocfn)(kmem_va_arena, ps,
	    VM_SLEEP | VM_INSTANTFIT, &a), 0);
	ATF_CHECK_EQ(a % ps, 0);
	memset((void *)a, 0x33, ps);
	(*kmem_freefn)(kmem_va_arena, a, ps);
	(void)(*starved)();	/* its answer depends on the budget */
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, vmem_calls);
	ATF_TP_ADD_TC(tp, pool_calls);
	ATF_TP_ADD_TC(tp, pool_cache_calls);
	ATF_TP_ADD_TC(tp, kmem_calls);
	ATF_TP_ADD_TC(tp, uvm_km_calls);
	return atf_no_error();
}
