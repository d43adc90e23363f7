package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP resolves the address of the client behind a request, believing
// X-Forwarded-For only from trusted proxies.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that trusts the proxies in trusted. With no
// trusted proxies the client is always the TCP peer.
func NewClientIP(trusted []netip.Prefix) *ClientIP {
	c := &ClientIP{}
	for _, p := range trusted {
		if p.IsValid() {
			c.trusted = append(c.trusted, normalizePrefix(p))
		}
	}
	return c
}

// ParseTrustedProxies parses a comma-separated list of addresses and CIDRs,
// as given to --trusted-proxies. A bare address stands for itself (/32 or
// /128), host bits after the prefix length are cleared, IPv4-mapped IPv6
// forms are read as IPv4, and empty items are ignored.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parseTrustedProxy(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q: %w", item, err)
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return normalizePrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("an address with a zone cannot be trusted")
	}
	return normalizePrefix(netip.PrefixFrom(a, a.BitLen())), nil
}

// normalizePrefix turns ::ffff:a.b.c.d/n into a.b.c.d/(n-96), since the
// addresses it is matched against are unmapped first.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

type clientIPKey struct{}

// Handler stores the client IP of each request in its context, where
// ClientIPFrom finds it.
func (c *ClientIP) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientIPKey{}, c.resolve(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientIPFrom returns the client IP stored by ClientIP.Handler, or "" when
// there is none (the handler did not run, or the peer address of the
// connection, as on a Unix socket, is not an IP address).
func ClientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// resolve returns the TCP peer, unless the peer is a trusted proxy: then it
// walks X-Forwarded-For from the right, past trusted addresses, to the first
// untrusted one. Each proxy appends the address it received the request
// from, so everything left of that point was written by the client and is
// never read. If every address is trusted, the leftmost wins. An item that is
// not an address ends the walk at the last address read, since it cannot be
// known who wrote it. X-Real-IP and Forwarded are never read.
func (c *ClientIP) resolve(r *http.Request) string {
	peer, ok := parsePeer(r.RemoteAddr)
	if !ok {
		return ""
	}
	client := peer
	if !c.isTrusted(peer) {
		return client.String()
	}
	// Several header lines are one list, in order (RFC 9110, section 5.3).
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var item string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, item = rest[:j], rest[j+1:]
			} else {
				rest, item = "", rest
			}
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			a, ok := parseForwarded(item)
			if !ok {
				return client.String()
			}
			client = a
			if !c.isTrusted(a) {
				return client.String()
			}
		}
	}
	return client.String()
}

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePeer parses r.RemoteAddr: "ip:port", "[ip6]:port" or a bare IP. The
// zone of a link-local peer is dropped: prefixes never match zoned addresses.
func parsePeer(s string) (netip.Addr, bool) {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// parseForwarded parses one X-Forwarded-For item: an IP address, possibly
// in brackets or with a port, as some proxies write it. Zoned addresses are
// rejected: a zone means nothing outside the proxy that saw it.
func parseForwarded(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(s); err2 == nil {
			a = ap.Addr()
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
		} else {
			return netip.Addr{}, false
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
