package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// twoResponders is an exchange whose agreement has a second responder, ir:
// packages addressed to af are not ir's to see, and the other way round.
type twoResponders struct {
	env            *testenv.Env
	pk, af, ir, tr *mvmclient.Client
	// Package ids by responder, in id order; acked are acknowledged.
	forAF, forIR, acked []string
}

func newTwoResponders(t *testing.T, nAF, nIR int) *twoResponders {
	t.Helper()
	x := &twoResponders{env: testenv.NewPKI(t, devpki.Options{SecondResponder: true})}
	x.pk, x.af, x.tr = x.env.Client(testenv.Submitter), x.env.Client(testenv.Responder), x.env.Client(testenv.Mediator)
	x.ir = x.env.Client("ir-interior")
	x.add(t, nAF, nIR)
	return x
}

// add submits more packages; every third one to af is acknowledged.
func (x *twoResponders) add(t *testing.T, nAF, nIR int) {
	t.Helper()
	for i := range nAF + nIR {
		tp := targetPackage()
		tp.Responder = "af"
		if i >= nAF {
			tp.Responder = "ir"
		}
		mustAppend(t, x.pk, tp)
		if i < nAF {
			x.forAF = append(x.forAF, tp.Header.MessageId)
			if len(x.forAF)%3 == 0 {
				mustAppend(t, x.af, ack(tp.Header.MessageId))
				x.acked = append(x.acked, tp.Header.MessageId)
			}
		} else {
			x.forIR = append(x.forIR, tp.Header.MessageId)
		}
	}
	slices.Sort(x.forAF)
	slices.Sort(x.forIR)
}

// listAll pages through ListPackages with the raw API, checking each page.
func listAll(t *testing.T, c *mvmclient.Client, status string, size uint32) []string {
	t.Helper()
	var ids []string
	req := &mvmv1.ListPackagesRequest{Status: status, PageSize: size}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		resp, err := c.API.ListPackages(ctxT(t), req)
		if err != nil {
			t.Fatalf("ListPackages(%+v) as %s: %v", req, c.ID, err)
		}
		if size > 0 && len(resp.Packages) > int(size) {
			t.Errorf("page of %d packages, page size %d", len(resp.Packages), size)
		}
		for _, p := range resp.Packages {
			if status != "" && p.Status != status {
				t.Errorf("package %s in status %s listed for status %s", p.PackageId, p.Status, status)
			}
			ids = append(ids, p.PackageId)
		}
		if resp.NextPageToken == "" {
			return ids
		}
		req.PageToken = resp.NextPageToken
	}
}

// breachesAll pages through GetBreaches with the raw API.
func breachesAll(t *testing.T, c *mvmclient.Client, asOf time.Time, party string, size uint32) []string {
	t.Helper()
	var got []string
	req := &mvmv1.GetBreachesRequest{AsOf: timestamppb.New(asOf), Party: party, PageSize: size}
	for {
		resp, err := c.API.GetBreaches(ctxT(t), req)
		if err != nil {
			t.Fatalf("GetBreaches as %s: %v", c.ID, err)
		}
		if size > 0 && len(resp.Breaches) > int(size) {
			t.Errorf("page of %d breaches, page size %d", len(resp.Breaches), size)
		}
		for _, b := range resp.Breaches {
			got = append(got, b.PackageId+"/"+b.Deadline)
		}
		if resp.NextPageToken == "" {
			return got
		}
		req.PageToken = resp.NextPageToken
		req.AsOf = nil // a later page keeps the first page's as-of time
	}
}

func without(all, drop []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(drop, s) })
}

// TestListAndBreachesPagesAndScope pages through everything as each party:
// every package the party may read, once, in id order, and never one it is
// not on, whatever the page size and status filter.
func TestListAndBreachesPagesAndScope(t *testing.T) {
	x := newTwoResponders(t, 7, 5)
	all := slices.Sorted(slices.Values(append(slices.Clone(x.forAF), x.forIR...)))
	// Breaches two days on: every acknowledge deadline not met (the
	// acknowledgements came within seconds, the action reports are due in
	// a week).
	asOf := time.Now().Add(48 * time.Hour)
	open := func(ids []string) []string {
		var out []string
		for _, id := range without(ids, x.acked) {
			out = append(out, id+"/"+workflow.DeadlineAcknowledge)
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		c              *mvmclient.Client
		sees, breaches []string
	}{
		{"mediator", x.tr, all, open(all)},
		{"submitter", x.pk, all, open(all)},
		{"responder af", x.af, x.forAF, open(x.forAF)},
		{"responder ir", x.ir, x.forIR, open(x.forIR)},
	} {
		for _, size := range []uint32{0, 1, 2, 5} {
			t.Run(fmt.Sprintf("%s/page %d", tc.name, size), func(t *testing.T) {
				if got := listAll(t, tc.c, "", size); !slices.Equal(got, tc.sees) {
					t.Errorf("listed %v\nwant %v", got, tc.sees)
				}
				wantAcked := slices.DeleteFunc(slices.Clone(x.acked), func(id string) bool { return !slices.Contains(tc.sees, id) })
				if got := listAll(t, tc.c, string(workflow.StatusAcknowledged), size); !slices.Equal(got, wantAcked) {
					t.Errorf("listed acknowledged %v\nwant %v", got, wantAcked)
				}
				if got := listAll(t, tc.c, string(workflow.StatusSubmitted), size); !slices.Equal(got, without(tc.sees, x.acked)) {
					t.Errorf("listed submitted %v\nwant %v", got, without(tc.sees, x.acked))
				}
				got := breachesAll(t, tc.c, asOf, "", size)
				slices.Sort(got) // breach order is by due time
				if want := slices.Sorted(slices.Values(tc.breaches)); !slices.Equal(got, want) {
					t.Errorf("breaches %v\nwant %v", got, want)
				}
			})
		}
	}
	// A party filter narrows a mediator's breaches to that party's.
	got := breachesAll(t, x.tr, asOf, "ir", 2)
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(open(x.forIR))); !slices.Equal(got, want) {
		t.Errorf("mediator's breaches of ir %v\nwant %v", got, want)
	}
	// Nothing is due yet an hour on.
	if got := breachesAll(t, x.tr, time.Now().Add(time.Hour), "", 0); len(got) != 0 {
		t.Errorf("breaches an hour on: %v", got)
	}
}

// TestPageTokens: a token continues only the query, and the caller's scope,
// it was issued for; anything else is refused and reads nothing.
func TestPageTokens(t *testing.T) {
	x := newTwoResponders(t, 4, 3)
	ctx := ctxT(t)
	first, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, token %q", err, first.GetNextPageToken())
	}
	tok := first.NextPageToken
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	breaches, err := x.tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{AsOf: timestamppb.New(time.Now().Add(48 * time.Hour)), PageSize: 1})
	if err != nil || breaches.NextPageToken == "" {
		t.Fatalf("breaches first page: %v, token %q", err, breaches.GetNextPageToken())
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"another party's token", func() error {
			_, err := x.ir.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 1, PageToken: tok})
			return err
		}},
		{"a mediator replaying a party's token", func() error {
			_, err := x.tr.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 1, PageToken: tok})
			return err
		}},
		{"another status", func() error {
			_, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{Status: "submitted", PageToken: tok})
			return err
		}},
		{"edited", func() error {
			_, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageToken: string(flipped)})
			return err
		}},
		{"not base64", func() error {
			_, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageToken: "%%%"})
			return err
		}},
		{"a list token for breaches", func() error {
			_, err := x.af.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageToken: tok})
			return err
		}},
		{"a breaches token with another as_of", func() error {
			_, err := x.tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageToken: breaches.NextPageToken, AsOf: timestamppb.Now()})
			return err
		}},
		{"a breaches token for another party filter", func() error {
			_, err := x.tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageToken: breaches.NextPageToken, Party: "af"})
			return err
		}},
		{"a mediator's breaches token as a party", func() error {
			_, err := x.af.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageToken: breaches.NextPageToken})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), codes.InvalidArgument, "page_token") })
	}
	// The token works for the query it was issued for.
	if _, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 1, PageToken: tok}); err != nil {
		t.Fatalf("second page: %v", err)
	}
}

// TestPackageHistoryPages: GetPackage pages through a package's history;
// the pages joined are the whole history, as mvmclient.Package fetches it.
func TestPackageHistoryPages(t *testing.T) {
	x := newTwoResponders(t, 1, 1)
	id := x.forAF[0]
	if !slices.Contains(x.acked, id) {
		mustAppend(t, x.af, ack(id))
	}
	for range 6 {
		mustAppend(t, x.af, rfi(id))
		mustAppend(t, x.pk, infoResponse(id))
	}
	whole, err := x.pk.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
	if err != nil || whole.NextPageToken != "" || len(whole.History) != 14 || len(whole.Leaves) != 14 {
		t.Fatalf("one page: %v, %d events, %d leaves, token %q; want 14, 14 and none", err, len(whole.GetHistory()), len(whole.GetLeaves()), whole.GetNextPageToken())
	}
	var events []uint64
	req := &mvmv1.GetPackageRequest{PackageId: id, PageSize: 3}
	for pages := 1; ; pages++ {
		resp, err := x.tr.API.GetPackage(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.History) > 3 || len(resp.Leaves) != len(resp.History) {
			t.Errorf("page %d: %d events, %d leaves", pages, len(resp.History), len(resp.Leaves))
		}
		for _, e := range resp.History {
			events = append(events, e.Index)
		}
		if resp.NextPageToken == "" {
			if pages != 5 {
				t.Errorf("%d pages of 3 for 14 events, want 5", pages)
			}
			break
		}
		req.PageToken = resp.NextPageToken
	}
	var want []uint64
	for _, e := range whole.History {
		want = append(want, e.Index)
	}
	if !slices.Equal(events, want) {
		t.Errorf("paged history %v, want %v", events, want)
	}
	all, err := x.pk.Package(ctxT(t), id)
	if err != nil || len(all.History) != 14 || all.Package.Status != string(workflow.StatusAcknowledged) {
		t.Fatalf("mvmclient.Package: %v, %d events, status %s", err, len(all.GetHistory()), all.GetPackage().GetStatus())
	}
	if !strings.Contains(all.History[2].Summary, "request for information") || all.History[2].Author != x.af.ID.URI() {
		t.Errorf("event 2: %+v", all.History[2])
	}

	// Scope and tokens.
	_, err = x.ir.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
	wantUnseen(t, x.ir, id, err)
	first, _ := x.pk.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id, PageSize: 2})
	_, err = x.tr.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: x.forIR[0], PageToken: first.NextPageToken})
	wantCode(t, err, codes.InvalidArgument, "page_token")
	_, err = x.ir.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id, PageToken: first.NextPageToken})
	wantUnseen(t, x.ir, id, err)
}

// wantUnseen: err, c's answer for the existing package id it may not read,
// is the answer c gets for a package that does not exist, code and
// message (but for the id), so that it does not tell c the package exists.
func wantUnseen(t *testing.T, c *mvmclient.Client, id string, err error) {
	t.Helper()
	const none = "0123456789abcdef01234567"
	_, errNone := c.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: none})
	wantCode(t, errNone, codes.NotFound)
	if got, want := status.Code(err), status.Code(errNone); got != want {
		t.Fatalf("a package out of scope: %v (%v); one that does not exist: %v", got, err, want)
	}
	got := strings.ReplaceAll(status.Convert(err).Message(), id, none)
	if want := status.Convert(errNone).Message(); got != want {
		t.Errorf("a package out of scope answers %q; one that does not exist %q", got, want)
	}
}

// TestPackageBoundsRefused: the server refuses an entry past a package
// bound with ResourceExhausted naming the bound, and stores nothing.
func TestPackageBoundsRefused(t *testing.T) {
	f := newFixture(t)
	tp := targetPackage()
	mustAppend(t, f.pk(), tp)
	id := tp.Header.MessageId
	mustAppend(t, f.af(), ack(id))
	for range workflow.MaxOpenRequests {
		mustAppend(t, f.af(), rfi(id))
	}
	size := f.size(t)
	_, err := f.af().Append(ctxT(t), rfi(id))
	wantCode(t, err, codes.ResourceExhausted, "MaxOpenRequests")
	f.wantSize(t, size)
	mustAppend(t, f.pk(), infoResponse(id))
	mustAppend(t, f.af(), rfi(id)) // an answer makes room
	p, err := f.tr().Package(ctxT(t), id)
	if err != nil || len(p.Package.OpenRequests) != workflow.MaxOpenRequests {
		t.Fatalf("open requests: %v, %d, want %d", err, len(p.GetPackage().GetOpenRequests()), workflow.MaxOpenRequests)
	}
}

// TestReadsCostTheAnswer: the keys a list, breaches or history read visits
// depend on the page asked for, not on how many packages the log holds,
// nor on how many packages of other parties there are.
func TestReadsCostTheAnswer(t *testing.T) {
	x := newTwoResponders(t, 20, 2)
	st := x.env.Server.Ledger().Store()
	asOf := time.Now().Add(48 * time.Hour)
	reads := func() map[string]int64 {
		out := map[string]int64{}
		measure := func(name string, call func() error) {
			before := st.IndexReads()
			if err := call(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = st.IndexReads() - before
		}
		ctx := context.Background()
		measure("mediator list page", func() error {
			_, err := x.tr.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 5})
			return err
		})
		measure("ir list", func() error {
			_, err := x.ir.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{})
			return err
		})
		measure("acknowledged page", func() error {
			_, err := x.af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{Status: "acknowledged", PageSize: 3})
			return err
		})
		measure("breaches page", func() error {
			_, err := x.tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{AsOf: timestamppb.New(asOf), PageSize: 5})
			return err
		})
		measure("ir breaches", func() error {
			_, err := x.ir.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{AsOf: timestamppb.New(asOf)})
			return err
		})
		measure("nothing due", func() error {
			_, err := x.tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{})
			return err
		})
		measure("history", func() error {
			_, err := x.tr.API.GetPackage(ctx, &mvmv1.GetPackageRequest{PackageId: x.forIR[0]})
			return err
		})
		return out
	}
	small := reads()
	x.add(t, 100, 0) // five times the packages, all af's
	large := reads()
	for name, n := range small {
		if large[name] != n {
			t.Errorf("%s: %d keys read with 22 packages, %d with 122", name, n, large[name])
		}
		// Per item: its key in each of two scopes (a mediator meets a
		// package under its submitter's and its responder's party), its
		// state and its submission entry.
		if n > 4*6 {
			t.Errorf("%s: %d keys read for an answer of at most 6 items", name, n)
		}
	}
	t.Logf("keys read: %v", small)
}
