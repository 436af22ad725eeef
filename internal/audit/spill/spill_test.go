package spill

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var strings_ = Codec[string]{
	Append: func(b []byte, v string) []byte { return append(b, v...) },
	Decode: func(b []byte) (string, error) { return string(b), nil },
}

func newMap(t *testing.T, o Options) *Map[string] {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	m, err := New(strings_, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// contents reads a map back through All.
func contents(t *testing.T, m *Map[string]) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := m.All(func(k, v string) error {
		if _, dup := got[k]; dup {
			t.Errorf("All: key %q twice", k)
		}
		got[k] = v
		return nil
	})
	if err != nil {
		t.Fatalf("All: %v", err)
	}
	return got
}

func TestMapOperations(t *testing.T) {
	type op struct {
		do, key, val string // do: put, putenc (PutEncoded), get, add
		want         string // get/add: the value found, "-" for none
	}
	long := strings.Repeat("v", 3000) // longer than the first read of a record
	for _, tc := range []struct {
		name string
		ops  []op
		end  map[string]string
	}{
		{"empty", []op{{do: "get", key: "a", want: "-"}}, map[string]string{}},
		{"put then get", []op{{do: "put", key: "a", val: "1"}, {do: "get", key: "a", want: "1"}, {do: "get", key: "b", want: "-"}},
			map[string]string{"a": "1"}},
		{"overwrite", []op{{do: "put", key: "a", val: "1"}, {do: "put", key: "b", val: "2"}, {do: "put", key: "a", val: "3"},
			{do: "get", key: "a", want: "3"}}, map[string]string{"a": "3", "b": "2"}},
		{"empty key and value", []op{{do: "put", key: "", val: ""}, {do: "get", key: "", want: ""}}, map[string]string{"": ""}},
		{"add keeps the first", []op{{do: "add", key: "k", val: "1", want: "-"}, {do: "add", key: "k", val: "2", want: "1"},
			{do: "get", key: "k", want: "1"}}, map[string]string{"k": "1"}},
		{"long values", []op{{do: "put", key: "a", val: long}, {do: "put", key: "b", val: "x"}, {do: "get", key: "a", want: long},
			{do: "put", key: "a", val: long + "!"}, {do: "get", key: "a", want: long + "!"}}, map[string]string{"a": long + "!", "b": "x"}},
		{"put encoded", []op{{do: "put", key: "a", val: "1"}, {do: "putenc", key: "b", val: "2"}, {do: "putenc", key: "a", val: "3"},
			{do: "get", key: "b", want: "2"}, {do: "get", key: "a", want: "3"}, {do: "putenc", key: "b", val: long},
			{do: "put", key: "c", val: "4"}, {do: "get", key: "b", want: long}}, map[string]string{"a": "3", "b": long, "c": "4"}},
		{"binary keys", []op{{do: "put", key: "\x00\xff", val: "1"}, {do: "put", key: "\x00", val: "2"}, {do: "get", key: "\x00\xff", want: "1"}},
			map[string]string{"\x00\xff": "1", "\x00": "2"}},
	} {
		for _, cache := range []int{0, 1, 100} {
			t.Run(fmt.Sprintf("%s/cache %d", tc.name, cache), func(t *testing.T) {
				m := newMap(t, Options{Cache: cache})
				for i, o := range tc.ops {
					var got string
					var ok bool
					var err error
					switch o.do {
					case "put":
						err = m.Put(o.key, o.val)
					case "putenc":
						err = m.PutEncoded(o.key, o.val, []byte(o.val))
					case "get":
						got, ok, err = m.Get(o.key)
					case "add":
						got, ok, err = m.Add(o.key, o.val)
					}
					if err != nil {
						t.Fatalf("op %d %s %q: %v", i, o.do, o.key, err)
					}
					if !ok {
						got = "-"
					}
					if o.do != "put" && o.do != "putenc" && got != o.want {
						t.Errorf("op %d %s %q: got %.20q, want %.20q", i, o.do, o.key, got, o.want)
					}
				}
				if m.Len() != len(tc.end) {
					t.Errorf("Len %d, want %d", m.Len(), len(tc.end))
				}
				if got := contents(t, m); !maps.Equal(got, tc.end) {
					t.Errorf("All: %v, want %v", got, tc.end)
				}
			})
		}
	}
}

// A map checked against a Go map over many random operations, across
// index growth, write buffer flushes, cache evictions and, with every key
// on one fingerprint, collisions resolved by reading keys back.
func TestMapAgainstGoMap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keys    int
		ops     int
		cache   int
		presize bool
		collide bool
	}{
		{"no cache", 20000, 60000, 0, false, false},
		{"small cache", 20000, 60000, 16, false, false},
		{"large cache", 5000, 30000, 10000, false, false},
		{"presized", 20000, 40000, 16, true, false},
		{"one fingerprint", 200, 2000, 4, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Cache: tc.cache}
			if tc.presize {
				o.Keys = tc.keys
			}
			m := newMap(t, o)
			bits := m.idx.bits
			if tc.collide {
				m.fp = func(string) uint64 { return 12345 }
			}
			r := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			want := map[string]string{}
			for i := range tc.ops {
				k := fmt.Sprintf("key-%d", r.IntN(tc.keys))
				switch r.IntN(3) {
				case 0:
					v := fmt.Sprintf("%d:%s", i, strings.Repeat("x", r.IntN(600)))
					if err := m.Put(k, v); err != nil {
						t.Fatal(err)
					}
					want[k] = v
				case 1:
					v, ok, err := m.Get(k)
					if w, wok := want[k]; err != nil || ok != wok || v != w {
						t.Fatalf("op %d: Get(%s) = %.20q, %v, %v; want %.20q, %v", i, k, v, ok, err, w, wok)
					}
				case 2:
					v := fmt.Sprint(i)
					old, ok, err := m.Add(k, v)
					if w, wok := want[k]; err != nil || ok != wok || old != w {
						t.Fatalf("op %d: Add(%s) = %.20q, %v, %v; want %.20q, %v", i, k, old, ok, err, w, wok)
					}
					if !ok {
						want[k] = v
					}
				}
			}
			if m.Len() != len(want) {
				t.Errorf("Len %d, want %d", m.Len(), len(want))
			}
			if got := contents(t, m); !maps.Equal(got, want) {
				t.Errorf("All differs from the Go map (%d keys, want %d)", len(got), len(want))
			}
			for k, w := range want {
				if v, ok, err := m.Get(k); err != nil || !ok || v != w {
					t.Fatalf("Get(%s) after All = %.20q, %v, %v", k, v, ok, err)
				}
			}
			if tc.presize && m.idx.bits != bits {
				t.Errorf("a presized index grew from %d to %d bits", bits, m.idx.bits)
			}
			if !tc.presize && !tc.collide && m.idx.bits == minBits {
				t.Errorf("the index never grew")
			}
			if m.flushed == 0 {
				t.Errorf("nothing was written to the file")
			}
		})
	}
}

func TestMapFileRemoved(t *testing.T) {
	dir := t.TempDir()
	m, err := New(strings_, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50000 {
		if err := m.Put(fmt.Sprint(i), "value"); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.GOOS == "linux" {
		if names := ls(t, dir); len(names) != 0 {
			t.Errorf("spill file still linked while in use: %v", names)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if names := ls(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
	if _, err := New(strings_, Options{Dir: dir + "/missing"}); err == nil {
		t.Errorf("New in a missing directory succeeded")
	}
}

func ls(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return slices.Sorted(slices.Values(names))
}

func TestMapErrors(t *testing.T) {
	bad := errors.New("bad value")
	codec := Codec[string]{Append: strings_.Append, Decode: func(b []byte) (string, error) {
		if string(b) == "bad" {
			return "", bad
		}
		return string(b), nil
	}}
	m, err := New(codec, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Put("k", "bad"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Get("k"); !errors.Is(err, bad) {
		t.Errorf("Get of an undecodable value: %v, want %v", err, bad)
	}
	if _, _, err := m.Add("k", "x"); !errors.Is(err, bad) {
		t.Errorf("Add over an undecodable value: %v, want %v", err, bad)
	}
	if err := m.All(func(string, string) error { return nil }); !errors.Is(err, bad) {
		t.Errorf("All over an undecodable value: %v, want %v", err, bad)
	}
	stop := errors.New("stop")
	m.Put("k", "good")
	if err := m.All(func(string, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("All returned %v, want fn's error", err)
	}
}
