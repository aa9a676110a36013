package faultproxy

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Unreachable is an address on 127.0.0.1 whose TCP connects never
// complete, as if a firewall dropped the SYN: a listening socket with a
// backlog of 0 whose one queue slot is taken and never accepted, so the
// kernel drops every further SYN (Linux). A dial to it ends only by its
// timeout or cancellation.
type Unreachable struct {
	addr   string
	ln     *os.File
	filler net.Conn
}

// NewUnreachable creates the address and checks that a connect to it
// does not complete within 100 ms.
func NewUnreachable() (*Unreachable, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ln := os.NewFile(uintptr(fd), "unreachable")
	fail := func(err error) (*Unreachable, error) {
		ln.Close()
		return nil, fmt.Errorf("faultproxy: unreachable address: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		return fail(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fail(err)
	}
	u := &Unreachable{addr: addr, ln: ln, filler: filler}
	if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
		c.Close()
		u.Close()
		return nil, fmt.Errorf("faultproxy: unreachable address: a connect to %s completed (not Linux?)", addr)
	}
	return u, nil
}

// Addr is the "host:port" to dial.
func (u *Unreachable) Addr() string { return u.addr }

// Close frees the address.
func (u *Unreachable) Close() error {
	u.filler.Close()
	return u.ln.Close()
}

// Pending is the number of connects to the address now waiting for an
// answer (sockets in SYN_SENT, asked of the kernel through sock_diag), so
// a test can await a dial in progress; -1 if the kernel does not answer.
func (u *Unreachable) Pending() int {
	_, port, _ := net.SplitHostPort(u.addr)
	p, _ := strconv.Atoi(port)
	n, err := synSentTo(uint16(p))
	if err != nil {
		return -1
	}
	return n
}

// synSentTo counts IPv4 TCP sockets in SYN_SENT towards port.
func synSentTo(port uint16) (int, error) {
	const (
		sockDiagByFamily = 20
		tcpSynSent       = 2
		inetDiagMsgLen   = 72 // struct inet_diag_msg
	)
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	// nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes).
	req := make([]byte, 16+56)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	req[16] = syscall.AF_INET
	req[17] = syscall.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[20:], 1<<tcpSynSent)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, err
	}
	n := 0
	buf := make([]byte, 64<<10)
	for {
		size, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:size])
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return n, nil
			case syscall.NLMSG_ERROR:
				return 0, fmt.Errorf("faultproxy: sock_diag: error answer")
			}
			if len(m.Data) < inetDiagMsgLen {
				continue
			}
			// inet_diag_msg: family, state, timer, retrans, then
			// inet_diag_sockid: sport, dport (big endian), ...
			if m.Data[1] == tcpSynSent && binary.BigEndian.Uint16(m.Data[6:]) == port {
				n++
			}
		}
	}
}
