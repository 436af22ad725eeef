package dbcheck

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
)

// The bbolt file format (go.etcd.io/bbolt, format version 2), read here
// directly from the file: bbolt itself trusts its pages, and a damaged
// page can make it fault, loop forever on a cycle of branch pages, or walk
// billions of pages for a bogus overflow count. Every field is in the
// machine's byte order, as bbolt writes it.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elementSize    = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeader   = 16 // root pgid u64, sequence u64
	metaSize       = 64 // magic, version, page size, flags u32; root bucket 16; freelist, pgid, txid, checksum u64

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketLeaf   = 0x01

	noFreelist = ^uint64(0)
)

var ne = binary.NativeEndian

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

// pageCheck validates the page structure of a bbolt file.
type pageCheck struct {
	c        *checker
	f        io.ReaderAt
	size     int64
	m        meta
	ps       uint64
	used     []bool // page reachable from the root bucket (or the meta/free list page)
	free     []bool
	treeOK   bool
	freeOK   bool
	problems int
}

func (p *pageCheck) damage(format string, args ...any) {
	p.problems++
	p.c.damage("file", "", format, args...)
}

// checkPages reads the file's pages directly and reports whether bbolt
// can safely read the tree (treeOK) and whether everything, free list and
// page accounting included, is sound (allOK).
func (c *checker) checkPages(path string) (treeOK, allOK bool) {
	f, err := os.Open(path)
	if err != nil {
		c.damage("file", "", "%v", err)
		return false, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		c.damage("file", "", "%v", err)
		return false, false
	}
	p := &pageCheck{c: c, f: f, size: fi.Size()}
	if !p.readMeta() {
		return false, false
	}
	p.used, p.free = make([]bool, p.m.hwm), make([]bool, p.m.hwm)
	p.used[0], p.used[1] = true, true
	p.treeOK = p.visit(p.m.root, "(root)")
	p.freeOK = p.readFreelist()
	if p.treeOK && p.freeOK && p.m.freelist != noFreelist {
		p.leaks()
	}
	return p.treeOK, p.treeOK && p.freeOK && p.problems == 0
}

// readMeta picks the meta page bbolt would use: the valid one with the
// larger transaction id.
func (p *pageCheck) readMeta() bool {
	var metas [2]*meta
	var why [2]string
	first := make([]byte, 4096)
	n, _ := p.f.ReadAt(first, 0)
	ps := uint32(4096)
	if n >= pageHeaderSize+metaSize {
		if m, err := parseMeta(first[:n]); err == nil {
			ps = m.pageSize
		}
	}
	for i := range 2 {
		buf := make([]byte, pageHeaderSize+metaSize)
		if _, err := p.f.ReadAt(buf, int64(i)*int64(ps)); err != nil {
			why[i] = err.Error()
			continue
		}
		m, err := parseMeta(buf)
		if err != nil {
			why[i] = err.Error()
			continue
		}
		metas[i] = m
	}
	for i := range 2 {
		if metas[i] == nil && metas[1-i] != nil {
			p.damage("meta page %d: %s (bbolt uses the other one)", i, why[i])
		}
	}
	switch {
	case metas[0] == nil && metas[1] == nil:
		p.damage("no valid meta page: page 0: %s; page 1: %s", why[0], why[1])
		return false
	case metas[0] == nil:
		p.m = *metas[1]
	case metas[1] == nil || metas[0].txid > metas[1].txid:
		p.m = *metas[0]
	default:
		p.m = *metas[1]
	}
	p.ps = uint64(p.m.pageSize)
	if p.m.hwm < 2 || p.m.hwm > uint64(p.size)/p.ps {
		p.damage("the meta page counts %d pages of %d bytes; the file has %d bytes", p.m.hwm, p.ps, p.size)
		return false
	}
	return true
}

func parseMeta(buf []byte) (*meta, error) {
	if len(buf) < pageHeaderSize+metaSize {
		return nil, fmt.Errorf("short page")
	}
	if ne.Uint16(buf[8:]) != metaPage {
		return nil, fmt.Errorf("not a meta page (flags %#x)", ne.Uint16(buf[8:]))
	}
	b := buf[pageHeaderSize:]
	if ne.Uint32(b[0:]) != boltMagic {
		return nil, fmt.Errorf("not a bbolt file (magic %#x)", ne.Uint32(b[0:]))
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return nil, fmt.Errorf("bbolt format version %d, not %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	m := &meta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]), hwm: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return nil, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// claim reads page id (with its overflow) for where, marking it used; it
// returns nil after reporting what is wrong.
func (p *pageCheck) claim(id uint64, where string) []byte {
	if id < 2 || id >= p.m.hwm {
		p.damage("%s: page %d is out of bounds (the file has %d pages)", where, id, p.m.hwm)
		return nil
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := p.f.ReadAt(hdr, int64(id*p.ps)); err != nil {
		p.damage("%s: page %d: %v", where, id, err)
		return nil
	}
	if got := ne.Uint64(hdr); got != id {
		p.damage("%s: page %d says it is page %d", where, id, got)
		return nil
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= p.m.hwm {
		p.damage("%s: page %d: its overflow of %d pages runs past the end of the file", where, id, overflow)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		if p.used[i] {
			p.damage("%s: page %d is referenced twice", where, i)
			return nil
		}
	}
	for i := id; i <= id+overflow; i++ {
		p.used[i] = true
	}
	buf := make([]byte, (overflow+1)*p.ps)
	if _, err := p.f.ReadAt(buf, int64(id*p.ps)); err != nil {
		p.damage("%s: page %d: %v", where, id, err)
		return nil
	}
	return buf
}

// visit checks the tree of pages under id, of the bucket named where.
func (p *pageCheck) visit(id uint64, where string) bool {
	buf := p.claim(id, where)
	if buf == nil {
		return false
	}
	switch flags := ne.Uint16(buf[8:]); flags {
	case branchPage, leafPage:
		return p.elements(buf, id, where)
	default:
		p.damage("%s: page %d has type %#x where a branch or leaf page belongs", where, id, flags)
		return false
	}
}

// elements checks the elements of a branch or leaf page held in buf (a
// page of the file, or an inline bucket's page) and follows them.
func (p *pageCheck) elements(buf []byte, id uint64, where string) bool {
	flags, count := ne.Uint16(buf[8:]), int(ne.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		p.damage("%s: page %d: %d elements do not fit in it", where, id, count)
		return false
	}
	if flags == branchPage && count == 0 {
		p.damage("%s: page %d: a branch page without elements", where, id)
		return false
	}
	ok := true
	for i := range count {
		e := pageHeaderSize + i*elementSize
		if flags == branchPage {
			pos, ksize, child := int(ne.Uint32(buf[e:])), int(ne.Uint32(buf[e+4:])), ne.Uint64(buf[e+8:])
			if e+pos+ksize > len(buf) || e+pos+ksize < e {
				p.damage("%s: page %d: element %d's key runs past the page", where, id, i)
				return false
			}
			ok = p.visit(child, where) && ok
			continue
		}
		eflags, pos, ksize, vsize := ne.Uint32(buf[e:]), int(ne.Uint32(buf[e+4:])), int(ne.Uint32(buf[e+8:])), int(ne.Uint32(buf[e+12:]))
		end := e + pos + ksize + vsize
		if end > len(buf) || end < e || pos < 0 || ksize < 0 || vsize < 0 {
			p.damage("%s: page %d: element %d's key and value run past the page", where, id, i)
			return false
		}
		if eflags&bucketLeaf == 0 {
			continue
		}
		key := buf[e+pos : e+pos+ksize]
		value := buf[e+pos+ksize : end]
		name := strings.TrimPrefix(where+"/"+printable(key), "(root)/")
		if len(value) < bucketHeader {
			p.damage("%s: page %d: bucket %s has a %d-byte header", where, id, name, len(value))
			ok = false
			continue
		}
		if root := ne.Uint64(value); root != 0 {
			ok = p.visit(root, name) && ok
			continue
		}
		inline := value[bucketHeader:]
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafPage {
			p.damage("%s: page %d: inline bucket %s is not a leaf page", where, id, name)
			ok = false
			continue
		}
		ok = p.elements(inline, id, name) && ok
	}
	return ok
}

// readFreelist checks the free list page and records the free pages.
func (p *pageCheck) readFreelist() bool {
	if p.m.freelist == noFreelist {
		return true // not persisted: bbolt rebuilds it at open
	}
	buf := p.claim(p.m.freelist, "free list")
	if buf == nil {
		return false
	}
	if flags := ne.Uint16(buf[8:]); flags != freelistPage {
		p.damage("free list: page %d has type %#x", p.m.freelist, flags)
		return false
	}
	idx, count := 0, uint64(ne.Uint16(buf[10:]))
	if count == 0xFFFF {
		idx, count = 1, ne.Uint64(buf[pageHeaderSize:])
	}
	if count > uint64(len(buf)-pageHeaderSize)/8-uint64(idx) {
		p.damage("free list: %d page ids do not fit in its page", count)
		return false
	}
	ok := true
	for i := range count {
		id := ne.Uint64(buf[pageHeaderSize+(uint64(idx)+i)*8:])
		switch {
		case id < 2 || id >= p.m.hwm:
			p.damage("free list: page %d is out of bounds", id)
			ok = false
		case p.free[id]:
			p.damage("free list: page %d is listed twice", id)
			ok = false
		case p.used[id]:
			p.damage("free list: page %d is in use", id)
			ok = false
		default:
			p.free[id] = true
		}
	}
	return ok
}

// leaks reports pages neither in use nor free, in ranges.
func (p *pageCheck) leaks() {
	for id := uint64(2); id < p.m.hwm; {
		if p.used[id] || p.free[id] {
			id++
			continue
		}
		end := id
		for end+1 < p.m.hwm && !p.used[end+1] && !p.free[end+1] {
			end++
		}
		if end == id {
			p.damage("page %d is neither in use nor free", id)
		} else {
			p.damage("pages %d..%d are neither in use nor free", id, end)
		}
		id = end + 1
	}
}

func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}
