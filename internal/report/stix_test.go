package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mvm-exchange/mvm/internal/report"
)

// The OASIS STIX 2.1 JSON schemas, copied from ../shared/stix2.1-schemas
// (BSD-3-Clause, see its LICENSE and README).
const (
	schemaDir    = "testdata/stix2.1-schemas/schemas/"
	schemaPrefix = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"
)

// localSchemas serves the schemas' $ids from schemaDir: no network.
type localSchemas struct{}

func (localSchemas) Load(url string) (any, error) {
	rest, ok := strings.CutPrefix(url, schemaPrefix)
	if !ok {
		return nil, os.ErrNotExist
	}
	f, err := os.Open(filepath.Join(schemaDir, filepath.FromSlash(rest)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

func schemas(t *testing.T) func(path string) *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.UseLoader(localSchemas{})
	compiled := map[string]*jsonschema.Schema{}
	return func(path string) *jsonschema.Schema {
		t.Helper()
		if s, ok := compiled[path]; ok {
			return s
		}
		s, err := c.Compile(schemaPrefix + path)
		if err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
		compiled[path] = s
		return s
	}
}

var schemaOf = map[string]string{
	"marking-definition": "common/marking-definition.json",
	"identity":           "sdos/identity.json",
	"grouping":           "sdos/grouping.json",
	"location":           "sdos/location.json",
	"note":               "sdos/note.json",
	"opinion":            "sdos/opinion.json",
	"relationship":       "sros/relationship.json",
}

func exportSTIX(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	s := report.NewSTIX(&b)
	for _, e := range story(t) {
		if err := s.Add(e); err != nil {
			t.Fatalf("Add(%d): %v", e.Index, err)
		}
	}
	if err := s.Bundle(report.Checkpoint{Origin: "mvm.example/log", Size: 27, Root: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b.Bytes()) {
		t.Fatalf("the bundle is not JSON:\n%s", b.Bytes())
	}
	return b.Bytes()
}

// TestSTIXSchemas validates every object of the bundle against the OASIS
// schema of its type, and the bundle's own fields against bundle.json.
// bundle.json cannot judge the objects themselves: its list of object
// schemas lacks location, note, opinion and grouping, which then fall to a
// custom-object branch that a valid one fails (see the schemas' README);
// so the bundle is validated with its objects left out.
func TestSTIXSchemas(t *testing.T) {
	b := exportSTIX(t)
	get := schemas(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bundle := inst.(map[string]any)
	objs := bundle["objects"].([]any)
	seen := map[string]int{}
	ids := map[string]bool{}
	for i, o := range objs {
		obj := o.(map[string]any)
		typ, _ := obj["type"].(string)
		path, ok := schemaOf[typ]
		if !ok {
			t.Errorf("object %d: type %q has no schema here", i, typ)
			continue
		}
		if name, _ := obj["name"].(string); typ == "location" && name == "" {
			t.Errorf("location %s has no name (OpenCTI requires one)", obj["id"])
		}
		if err := get(path).Validate(obj); err != nil {
			t.Errorf("object %d (%s %s) fails %s: %v", i, typ, obj["id"], path, err)
		}
		seen[typ]++
		id := obj["id"].(string)
		if ids[id] {
			t.Errorf("id %s twice", id)
		}
		ids[id] = true
	}
	// The story's one finding contradicts; the dispute contests it.
	for _, o := range objs {
		obj := o.(map[string]any)
		if obj["type"] != "opinion" {
			continue
		}
		labels := fmt.Sprint(obj["labels"])
		want := map[bool]string{true: "disagree", false: "strongly-disagree"}[strings.Contains(labels, "mvm-finding")]
		if obj["opinion"] != want {
			t.Errorf("opinion %s (%s): got %v, want %s", obj["id"], labels, obj["opinion"], want)
		}
	}
	// Every type the exporter emits is in the story.
	for typ := range schemaOf {
		if seen[typ] == 0 {
			t.Errorf("the story's bundle holds no %s", typ)
		}
	}
	// Every reference resolves within the bundle.
	for _, o := range objs {
		for k, v := range o.(map[string]any) {
			var refs []any
			switch {
			case strings.HasSuffix(k, "_refs"):
				refs = v.([]any)
			case strings.HasSuffix(k, "_ref"):
				refs = []any{v}
			}
			for _, r := range refs {
				if !ids[r.(string)] {
					t.Errorf("%s of %s: %s is not in the bundle", k, o.(map[string]any)["id"], r)
				}
			}
		}
	}
	for _, o := range objs {
		if o.(map[string]any)["type"] == "marking-definition" {
			bundle["objects"] = []any{o} // which bundle.json lists
		}
	}
	if err := get("common/bundle.json").Validate(bundle); err != nil {
		t.Errorf("bundle fails bundle.json: %v", err)
	}
	want := map[string]int{"marking-definition": 1, "identity": 4, "grouping": 9, "location": 9, "relationship": 9 + 1,
		"opinion": 2, "note": 11}
	if !maps.Equal(seen, want) {
		t.Errorf("objects by type: got %v, want %v", seen, want)
	}
}

// TestSTIXDeterministic: the same log exports the same bytes, and a
// longer log keeps every id a shorter one gave (a re-import duplicates
// nothing).
func TestSTIXDeterministic(t *testing.T) {
	a, b := exportSTIX(t), exportSTIX(t)
	if !bytes.Equal(a, b) {
		t.Errorf("two exports of one log differ")
	}
	entries := story(t)
	var sb bytes.Buffer
	short := report.NewSTIX(&sb)
	for _, e := range entries[:8] {
		if err := short.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := short.Bundle(report.Checkpoint{Size: 8}); err != nil {
		t.Fatal(err)
	}
	idsOf := func(b []byte) []string {
		var v struct {
			Objects []struct {
				ID string `json:"id"`
			} `json:"objects"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range v.Objects {
			ids = append(ids, o.ID)
		}
		return ids
	}
	long := idsOf(a)
	for _, id := range idsOf(sb.Bytes()) {
		if !slices.Contains(long, id) {
			t.Errorf("id %s of the shorter log's export is not in the longer one's", id)
		}
	}
	// Ids come from the log's ids (message ids), not from receive times.
	var sh bytes.Buffer
	shifted := report.NewSTIX(&sh)
	for _, e := range entries {
		e.ReceivedAt = e.ReceivedAt.Add(time.Hour)
		if err := shifted.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := shifted.Bundle(report.Checkpoint{Origin: "mvm.example/log", Size: 27, Root: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if got := idsOf(sh.Bytes()); !slices.Equal(got, long) {
		t.Errorf("ids changed with the receive times")
	}
	if !strings.Contains(string(a), `"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"`) {
		t.Errorf("no TLP:AMBER marking by its fixed id")
	}
}
