package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "Empty", in: "", want: nil},
		{name: "OnlyCommas", in: " , ,", want: nil},
		{name: "BareIPv4", in: "10.0.0.1", want: []string{"10.0.0.1/32"}},
		{name: "BareIPv6", in: "2001:db8::1", want: []string{"2001:db8::1/128"}},
		{name: "List", in: "10.0.0.0/8, 192.168.1.1,2001:db8::/32", want: []string{"10.0.0.0/8", "192.168.1.1/32", "2001:db8::/32"}},
		{name: "SpacesAndEmptyItems", in: " 10.0.0.1 , ,10.0.0.2,", want: []string{"10.0.0.1/32", "10.0.0.2/32"}},
		{name: "HostBitsCleared", in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{name: "MappedAddress", in: "::ffff:10.0.0.1", want: []string{"10.0.0.1/32"}},
		{name: "MappedPrefix", in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{name: "BadOctet", in: "10.0.0.256", wantErr: true},
		{name: "BadBits", in: "10.0.0.0/33", wantErr: true},
		{name: "HostName", in: "proxy.example.com", wantErr: true},
		{name: "WithPort", in: "10.0.0.1:80", wantErr: true},
		{name: "Zone", in: "fe80::1%eth0", wantErr: true},
		{name: "OneBadItem", in: "10.0.0.1, nope", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := middleware.ParseTrustedProxies(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotStr []string
			for _, p := range got {
				gotStr = append(gotStr, p.String())
			}
			if !slices.Equal(gotStr, tc.want) {
				t.Errorf("got %v, want %v", gotStr, tc.want)
			}
		})
	}
}

// trustedForTest are the proxies the ClientIP tests trust.
const trustedForTest = "10.0.0.0/8, 2001:db8::/32"

func newTestClientIP(t testing.TB) *middleware.ClientIP {
	t.Helper()
	trusted, err := middleware.ParseTrustedProxies(trustedForTest)
	if err != nil {
		t.Fatal(err)
	}
	return middleware.NewClientIP(trusted)
}

// clientIPOf runs a request from remoteAddr with header through c and
// returns the client IP the next handler saw.
func clientIPOf(c *middleware.ClientIP, remoteAddr string, header http.Header) string {
	var got string
	h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = middleware.ClientIPFrom(r.Context())
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remoteAddr
	r.Header = header
	h.ServeHTTP(httptest.NewRecorder(), r)
	return got
}

func TestClientIP(t *testing.T) {
	const (
		client = "198.51.100.1"
		proxy  = "10.0.0.5:443"
	)
	xff := func(lines ...string) http.Header { return http.Header{"X-Forwarded-For": lines} }
	tests := []struct {
		name       string
		remoteAddr string
		header     http.Header
		want       string
	}{
		{"DirectPeer", "203.0.113.7:1234", nil, "203.0.113.7"},
		{"DirectPeerIPv6", "[2a00:1450::1]:1234", nil, "2a00:1450::1"},
		{"PeerWithoutPort", "203.0.113.7", nil, "203.0.113.7"},
		{"MappedPeer", "[::ffff:203.0.113.7]:1234", nil, "203.0.113.7"},
		{"ZonedPeer", "[fe80::1%eth0]:1234", nil, "fe80::1"},
		{"UnparseablePeer", "@", nil, ""},

		// Spoofing from an untrusted peer: every header is ignored.
		{"UntrustedXFF", "203.0.113.7:1234", xff(client), "203.0.113.7"},
		{"UntrustedXFFClaimsTrustedHop", "203.0.113.7:1234", xff(client, "10.0.0.1"), "203.0.113.7"},
		{"UntrustedXRealIP", "203.0.113.7:1234", http.Header{"X-Real-Ip": {client}}, "203.0.113.7"},
		{"UntrustedForwarded", "203.0.113.7:1234", http.Header{"Forwarded": {"for=" + client}}, "203.0.113.7"},
		{"UntrustedMappedPeerOutsideTrusted", "[::ffff:203.0.113.7]:1", xff(client), "203.0.113.7"},

		// Behind a trusted proxy.
		{"TrustedProxy", proxy, xff(client), client},
		{"TrustedProxyWithoutXFF", proxy, nil, "10.0.0.5"},
		{"TrustedProxyEmptyXFF", proxy, xff(""), "10.0.0.5"},
		{"TrustedProxyIgnoresXRealIP", proxy, http.Header{"X-Real-Ip": {client}}, "10.0.0.5"},
		{"TrustedProxyIgnoresForwarded", proxy, http.Header{"Forwarded": {"for=" + client}}, "10.0.0.5"},
		{"ChainOfTrustedProxies", proxy, xff(client + ", 10.0.0.2, 10.0.0.3"), client},
		{"ClientPrependsFakeHop", proxy, xff("1.1.1.1, " + client), client},
		{"ClientPrependsTrustedHop", proxy, xff("10.9.9.9, " + client), client},
		{"ClientPrependsManyHops", proxy, xff("1.1.1.1, 10.0.0.1, 2.2.2.2, " + client + ", 10.0.0.3"), client},
		{"AllTrustedTakesLeftmost", proxy, xff("10.0.0.2, 10.0.0.3"), "10.0.0.2"},
		{"MultipleHeaderLines", proxy, xff("1.1.1.1", client+", 10.0.0.3"), client},
		{"MultipleHeaderLinesLastTrusted", proxy, xff(client, "10.0.0.3"), client},
		{"WhitespaceAndEmptyItems", proxy, xff(" \t" + client + " ,, 10.0.0.3 ,"), client},
		{"ItemWithPort", proxy, xff(client + ":4711"), client},
		{"IPv6ItemWithPort", proxy, xff("[2a00:1450::1]:443"), "2a00:1450::1"},
		{"IPv6ItemInBrackets", proxy, xff("[2a00:1450::1]"), "2a00:1450::1"},
		{"MappedItem", proxy, xff("::ffff:" + client), client},
		{"MappedTrustedItem", proxy, xff(client + ", ::ffff:10.0.0.3"), client},
		{"MappedTrustedPeer", "[::ffff:10.0.0.5]:443", xff(client), client},
		{"IPv6TrustedProxy", "[2001:db8::5]:443", xff("2a00:1450::1"), "2a00:1450::1"},
		{"ClientGarbageIgnored", proxy, xff("unknown, " + client), client},
		{"GarbageStopsWalk", proxy, xff(client + ", unknown, 10.0.0.3"), "10.0.0.3"},
		{"GarbageRightAfterPeer", proxy, xff(client + ", unknown"), "10.0.0.5"},
		{"ZonedItemStopsWalk", proxy, xff("fe80::1%eth0"), "10.0.0.5"},
		{"BracketedIPv4Rejected", proxy, xff("[" + client + "]"), "10.0.0.5"},
		{"HostNameStopsWalk", proxy, xff("evil.example"), "10.0.0.5"},
	}
	c := newTestClientIP(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientIPOf(c, tc.remoteAddr, tc.header); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientIPWithoutTrustedProxies(t *testing.T) {
	c := middleware.NewClientIP(nil)
	header := http.Header{"X-Forwarded-For": {"198.51.100.1"}}
	if got := clientIPOf(c, "10.0.0.5:443", header); got != "10.0.0.5" {
		t.Errorf("got %q, want %q", got, "10.0.0.5")
	}
}

func TestNewClientIPNormalizesPrefixes(t *testing.T) {
	c := middleware.NewClientIP([]netip.Prefix{
		netip.MustParsePrefix("::ffff:10.0.0.0/104"), // = 10.0.0.0/8
		{}, // the zero Prefix is ignored
	})
	header := http.Header{"X-Forwarded-For": {"198.51.100.1"}}
	if got := clientIPOf(c, "10.0.0.5:443", header); got != "198.51.100.1" {
		t.Errorf("got %q, want %q", got, "198.51.100.1")
	}
}

func TestClientIPFromWithoutHandler(t *testing.T) {
	if got := middleware.ClientIPFrom(t.Context()); got != "" {
		t.Errorf("got %q, want empty", got)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.5:443", "198.51.100.1, 10.0.0.2")
	f.Add("10.0.0.5:443", "[2a00:1450::1]:443,::ffff:1.2.3.4, unknown,,")
	f.Add("[2001:db8::5]:1", "fe80::1%eth0, [::1], 1.2.3.4:99999")
	f.Add("203.0.113.7:1234", "10.0.0.1")
	f.Add("@", "1.2.3.4")
	trusted, err := middleware.ParseTrustedProxies(trustedForTest)
	if err != nil {
		f.Fatal(err)
	}
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	c := middleware.NewClientIP(trusted)
	f.Fuzz(func(t *testing.T, remoteAddr, forwarded string) {
		peer := clientIPOf(c, remoteAddr, nil)
		got := clientIPOf(c, remoteAddr, http.Header{"X-Forwarded-For": {forwarded}})
		other := clientIPOf(c, remoteAddr, http.Header{
			"X-Real-Ip": {forwarded},
			"Forwarded": {"for=" + forwarded},
		})
		if other != peer {
			t.Fatalf("X-Real-IP or Forwarded changed the client from %q to %q", peer, other)
		}
		if got == "" {
			if peer != "" {
				t.Fatalf("got no client, but the peer is %q", peer)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.Is4In6() || a.Zone() != "" || a.String() != got {
			t.Fatalf("got %q, want a plain, unmapped IP address", got)
		}
		if got != peer && !isTrusted(netip.MustParseAddr(peer)) {
			t.Fatalf("got %q from X-Forwarded-For of the untrusted peer %q", got, peer)
		}
	})
}
