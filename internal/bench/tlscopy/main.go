// Command tlscopy is the baseline of the evidence figures: the same file
// copied over a raw mutual-TLS 1.3 stream on loopback, with the dev PKI's
// certificates, the way an evidence upload and download move it but with
// nothing else (no gRPC, no hashing, no store): the client reads the file
// in 256 KiB pieces and writes them to the connection, the server writes
// them to a file and fsyncs it; then back, into another file, fsynced.
// Client and server run in this one process, on the same cores an
// exchange and its client would share.
//
//	go run ./internal/bench/tlscopy --certs certs --as af-interior --dir /tmp/x film.mp4
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

const piece = 256 << 10 // as mvmclient.EvidenceChunk

func main() {
	certs := flag.String("certs", "certs", "dev PKI directory")
	as := flag.String("as", "af-interior", "client identity")
	dir := flag.String("dir", os.TempDir(), "directory for the copies")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tlscopy [--certs DIR] [--as NAME] [--dir DIR] FILE")
		os.Exit(2)
	}
	if err := run(*certs, *as, *dir, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "tlscopy:", err)
		os.Exit(1)
	}
}

func run(certs, as, dir, file string) error {
	srv, cli, err := configs(certs, as)
	if err != nil {
		return err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		return err
	}
	defer l.Close()
	up, down := filepath.Join(dir, "tlscopy-up"), filepath.Join(dir, "tlscopy-down")
	defer os.Remove(up)
	defer os.Remove(down)
	served := make(chan error, 1)
	go func() { served <- serve(l, up) }()

	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	mb := float64(fi.Size()) / 1e6
	t0 := time.Now()
	if err := send(l.Addr().String(), cli, file); err != nil {
		return err
	}
	if err := <-served; err != nil {
		return err
	}
	t1 := time.Now()
	go func() { served <- serve(l, up) }()
	if err := receive(l.Addr().String(), cli, down); err != nil {
		return err
	}
	if err := <-served; err != nil {
		return err
	}
	t2 := time.Now()
	fmt.Printf("raw TLS: %.0f MB: upload %.1f MB/s (%.2f s), download %.1f MB/s (%.2f s)\n",
		mb, mb/t1.Sub(t0).Seconds(), t1.Sub(t0).Seconds(), mb/t2.Sub(t1).Seconds(), t2.Sub(t1).Seconds())
	return nil
}

func configs(certs, as string) (srv, cli *tls.Config, err error) {
	load := func(name string) (tls.Certificate, error) {
		return tls.LoadX509KeyPair(filepath.Join(certs, name+".crt"), filepath.Join(certs, name+".key"))
	}
	server, err := load("server")
	if err != nil {
		return nil, nil, err
	}
	client, err := load(as)
	if err != nil {
		return nil, nil, err
	}
	cas, _ := filepath.Glob(filepath.Join(certs, "ca-*.crt"))
	pool := x509.NewCertPool()
	for _, f := range cas {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		pool.AppendCertsFromPEM(b)
	}
	srv = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{server}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	cli = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{client}, RootCAs: pool, ServerName: "localhost"}
	return srv, cli, nil
}

// serve answers one connection: a first byte 'u' uploads into path, 'd'
// downloads path.
func serve(l net.Listener, path string) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	op := make([]byte, 1)
	if _, err := io.ReadFull(c, op); err != nil {
		return err
	}
	buf := make([]byte, piece)
	if op[0] == 'd' {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(c, onlyReader{f}, buf)
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(onlyWriter{f}, c, buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = c.Write([]byte{'k'}) // stored
	return err
}

func send(addr string, cfg *tls.Config, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'u'}); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(onlyWriter{c}, onlyReader{f}, make([]byte, piece)); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 'k' {
		return errors.Join(errors.New("no acknowledgement from the server"), err)
	}
	return nil
}

func receive(addr string, cfg *tls.Config, path string) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'d'}); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyBuffer(onlyWriter{f}, c, make([]byte, piece)); err != nil {
		return err
	}
	return f.Sync()
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo (sendfile, splice), so
// the copy goes through the buffer, as the exchange's does.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
