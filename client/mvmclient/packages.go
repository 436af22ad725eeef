package mvmclient

import (
	"context"
	"fmt"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// MaxHistory bounds the events Package gathers: a package holds at most
// workflow.MaxEntriesPerParty entries per party, so a longer history means
// a misbehaving server, not a long package.
const MaxHistory = 100_000

// Package fetches a package with its whole history, page by page: the
// answer's History and Leaves hold every page's in log order, and its
// Package is the state of the last page, read at a log size that covers
// every event returned.
func (c *Client) Package(ctx context.Context, id string) (*mvmv1.GetPackageResponse, error) {
	var all *mvmv1.GetPackageResponse
	req := &mvmv1.GetPackageRequest{PackageId: id}
	for {
		resp, err := c.API.GetPackage(ctx, req)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = resp
		} else {
			all.Package = resp.Package
			all.History = append(all.History, resp.History...)
			all.Leaves = append(all.Leaves, resp.Leaves...)
		}
		if len(all.History) > MaxHistory {
			return nil, fmt.Errorf("package %s: the server sent more than %d history events; a package cannot hold that many", id, MaxHistory)
		}
		if resp.NextPageToken == "" {
			all.NextPageToken = ""
			return all, nil
		}
		if len(resp.History) == 0 {
			return nil, fmt.Errorf("package %s: the server sent an empty page with a next page token", id)
		}
		req.PageToken = resp.NextPageToken
	}
}

// Packages calls fn with every package the caller may read (in the status
// given, if any), in id order, fetching pages of pageSize (0: the
// server's default).
func (c *Client) Packages(ctx context.Context, status string, pageSize uint32, fn func(*mvmv1.PackageSummary) error) error {
	req := &mvmv1.ListPackagesRequest{Status: status, PageSize: pageSize}
	for {
		resp, err := c.API.ListPackages(ctx, req)
		if err != nil {
			return err
		}
		for _, p := range resp.Packages {
			if err := fn(p); err != nil {
				return err
			}
		}
		if resp.NextPageToken == "" {
			return nil
		}
		req.PageToken = resp.NextPageToken
	}
}

// Breaches returns every breach of req's query, fetching every page (of
// req.PageSize) at the as-of time of the first; the answer carries it.
func (c *Client) Breaches(ctx context.Context, req *mvmv1.GetBreachesRequest) (*mvmv1.GetBreachesResponse, error) {
	var all *mvmv1.GetBreachesResponse
	for {
		resp, err := c.API.GetBreaches(ctx, req)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = resp
			req.AsOf = resp.AsOf
		} else {
			all.Breaches = append(all.Breaches, resp.Breaches...)
		}
		if resp.NextPageToken == "" {
			all.NextPageToken = ""
			return all, nil
		}
		req.PageToken = resp.NextPageToken
	}
}
