package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Loopback ports for servers a test starts as a separate process, which
// must be told their address before they bind it.
//
// Port 0 would pick from the kernel's ephemeral range (32768–60999 by
// default), the same range the kernel hands out as local ports of
// outgoing connections: under load another test's client may take the
// port between our probe and the server's bind ("address already in
// use"). FreePort picks below that range instead, at random, never the
// same port twice in one process.
const (
	portLow  = 20000
	portHigh = 32768
)

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port below the ephemeral range that was
// free a moment ago and that no earlier call in this process returned.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		if portUsed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // taken
		}
		l.Close()
		portUsed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after 200 tries", portLow, portHigh-1)
}

// FreeAddr is FreePort as "127.0.0.1:PORT".
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}
