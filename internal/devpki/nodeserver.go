package devpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A mediator node serves reads and its witness endpoint with a TLS
// certificate of its own, <node>-server.crt / .key, issued by ca-server
// like the primary's: clients reach a node as they reach the primary, but
// no node operator holds the primary's key. It is for server
// authentication only. The primary's server.crt is the one certificate of
// ca-server that also authenticates a client: that is how a node's witness
// endpoint knows the primary from another node (server/node_witness.go).

// NodeServerName is the base name of node's TLS server certificate and
// key in a dev PKI: NodeServerName("tr-node") = "tr-node-server", the
// files tr-node-server.crt and tr-node-server.key that server --follow
// --as tr-node serves with by default.
func NodeServerName(node string) string { return node + "-server" }

// IssueNodeServer writes DIR/<node>-server.crt and .key: a new TLS server
// certificate of the mediator node named node (fresh key and serial),
// signed by DIR/ca-server, for localhost, 127.0.0.1 and ::1, valid from
// one hour ago for two years. It replaces the pair if there is one (a
// rotation, which the running node picks up without a restart).
func IssueNodeServer(dir, node string) error {
	if !validNodeName(node) {
		return fmt.Errorf("devpki: %q is not a node name (e.g. tr-node)", node)
	}
	ca, err := loadCA(dir, serverCAName)
	if err != nil {
		return err
	}
	k, err := newLeaf(ca, nodeServerTemplate(node, time.Now().Add(-backdate)))
	if err != nil {
		return fmt.Errorf("devpki: %s certificate: %w", NodeServerName(node), err)
	}
	files, err := k.files(NodeServerName(node))
	if err != nil {
		return err
	}
	// The key first, as RenewServer does: a reload between the two
	// renames keeps the old pair.
	return writeAll(dir, []file{files[1], files[0]})
}

// AddNodeServers completes a PKI made before nodes had certificates of
// their own: if the only problems [Check] finds in dir are missing node
// server certificates (both files of a pair missing), it issues those with
// [IssueNodeServer] and returns their names; nothing else in the PKI
// changes (ca-server issues them; the agreement does not list them). On
// any other problem it writes nothing and returns nil, nil: the caller's
// own Check reports it.
func AddNodeServers(dir string) ([]string, error) {
	var ce *CheckError
	if err := Check(dir, time.Time{}); !errors.As(err, &ce) {
		return nil, nil
	}
	missing := map[string]int{}
	for _, p := range ce.Problems {
		base, ok := strings.CutSuffix(p.File, ".crt")
		if !ok {
			base, ok = strings.CutSuffix(p.File, ".key")
		}
		if !ok || !errors.Is(p.Err, fs.ErrNotExist) || !slices.Contains(nodeServerNames(), base) {
			return nil, nil
		}
		missing[base]++
	}
	var added []string
	for _, n := range nodeNames() {
		name := NodeServerName(n)
		switch missing[name] {
		case 0:
			continue
		case 1:
			return nil, nil // half a pair: not this method's to repair
		}
		if err := IssueNodeServer(dir, n); err != nil {
			return added, err
		}
		added = append(added, name)
	}
	return added, nil
}

// nodeNames are the mediator nodes of the dev PKI, in agreement order.
func nodeNames() []string {
	var out []string
	for _, p := range parties {
		if p.role == mvmv1.Role_ROLE_MEDIATOR {
			out = append(out, NodeName(p.id))
		}
	}
	return out
}

func nodeServerNames() []string {
	var out []string
	for _, n := range nodeNames() {
		out = append(out, NodeServerName(n))
	}
	return out
}

// validNodeName: a party id and "-node" (the party's node), or another
// name of a node the caller chose, as long as it is a file name.
func validNodeName(node string) bool {
	return node != "" && node != serverName && !strings.HasPrefix(node, "ca-") &&
		!strings.ContainsAny(node, `/\`) && node != "." && node != ".."
}

// nodeServerTemplate is a node's TLS certificate: the loopback names of
// the primary's (the dev deployment runs on one host), the node's name as
// its subject, and server authentication only, so that it cannot pass for
// the primary at another node's witness endpoint.
func nodeServerTemplate(node string, notBefore time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: node, Organization: []string{"MVM dev PKI"}, OrganizationalUnit: []string{"mediator node"}},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:   notBefore,
		NotAfter:    notBefore.AddDate(leafValidity, 0, 0),
	}
}
