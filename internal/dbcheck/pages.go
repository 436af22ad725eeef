package dbcheck

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mvm-exchange/mvm/internal/boltpage"
)

// The bbolt file format is read here directly from the file, with the
// parsers of package boltpage: bbolt itself trusts its pages, and a
// damaged page can make it fault, loop forever on a cycle of branch pages,
// or walk billions of pages for a bogus overflow count.
const (
	pageHeaderSize = boltpage.PageHeaderSize
	elementSize    = boltpage.ElementSize
	bucketHeader   = boltpage.BucketHeader

	branchPage = boltpage.BranchPage
	leafPage   = boltpage.LeafPage
	bucketLeaf = boltpage.BucketLeaf

	noFreelist = boltpage.NoFreelist
)

var ne = boltpage.NE

type meta = boltpage.Meta

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
	p.used, p.free = make([]bool, p.m.HWM), make([]bool, p.m.HWM)
	p.used[0], p.used[1] = true, true
	p.treeOK = p.visit(p.m.Root, "(root)")
	p.freeOK = p.readFreelist()
	if p.treeOK && p.freeOK && p.m.Freelist != noFreelist {
		p.leaks()
	}
	return p.treeOK, p.treeOK && p.freeOK && p.problems == 0
}

// readMeta picks the meta page bbolt would use: the valid one with the
// larger transaction id.
func (p *pageCheck) readMeta() bool {
	metas, why := boltpage.ReadMetas(p.f)
	for i := range 2 {
		if metas[i] == nil && metas[1-i] != nil {
			p.damage("meta page %d: %s (bbolt uses the other one)", i, why[i])
		}
	}
	if metas[0] == nil && metas[1] == nil {
		p.damage("no valid meta page: page 0: %s; page 1: %s", why[0], why[1])
		return false
	}
	p.m = *boltpage.Current(metas)
	p.ps = uint64(p.m.PageSize)
	if p.m.HWM < 2 || p.m.HWM > uint64(p.size)/p.ps {
		p.damage("the meta page counts %d pages of %d bytes; the file has %d bytes", p.m.HWM, p.ps, p.size)
		return false
	}
	return true
}

// claim reads page id (with its overflow) for where, marking it used; it
// returns nil after reporting what is wrong.
func (p *pageCheck) claim(id uint64, where string) []byte {
	if id < 2 || id >= p.m.HWM {
		p.damage("%s: page %d is out of bounds (the file has %d pages)", where, id, p.m.HWM)
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
	if id+overflow >= p.m.HWM {
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
	if p.m.Freelist == noFreelist {
		return true // not persisted: bbolt rebuilds it at open
	}
	buf := p.claim(p.m.Freelist, "free list")
	if buf == nil {
		return false
	}
	ids, err := boltpage.FreelistIDs(buf)
	if err != nil {
		p.damage("free list: page %d: %v", p.m.Freelist, err)
		return false
	}
	ok := true
	for _, id := range ids {
		switch {
		case id < 2 || id >= p.m.HWM:
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
	for id := uint64(2); id < p.m.HWM; {
		if p.used[id] || p.free[id] {
			id++
			continue
		}
		end := id
		for end+1 < p.m.HWM && !p.used[end+1] && !p.free[end+1] {
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
