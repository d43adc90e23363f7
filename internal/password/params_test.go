package password_test

import (
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/password"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    password.Params
		wantErr string // substring of the error; "" means success
	}{
		{name: "Default", in: "m=19456,t=2,p=1", want: password.DefaultParams},
		{name: "AnyOrder", in: "p=4,m=65536,t=3", want: password.Params{Memory: 65536, Time: 3, Threads: 4}},
		{name: "Spaces", in: " m=64, t=1 ,p=1 ", want: password.Params{Memory: 64, Time: 1, Threads: 1}},
		{name: "MinMemoryPerThread", in: "m=32,t=1,p=4", want: password.Params{Memory: 32, Time: 1, Threads: 4}},
		{name: "MaxMemory", in: "m=4194304,t=1,p=1", want: password.Params{Memory: 4194304, Time: 1, Threads: 1}},
		{name: "MaxTimeAndThreads", in: "m=2040,t=100,p=255", want: password.Params{Memory: 2040, Time: 100, Threads: 255}},

		{name: "Empty", in: "", wantErr: "not key=value"},
		{name: "MissingP", in: "m=64,t=1", wantErr: "missing parameter p"},
		{name: "MissingM", in: "t=1,p=1", wantErr: "missing parameter m"},
		{name: "Duplicate", in: "m=64,t=1,p=1,t=2", wantErr: "given twice"},
		{name: "Unknown", in: "m=64,t=1,p=1,x=2", wantErr: `unknown parameter "x"`},
		{name: "UpperCaseKey", in: "M=64,t=1,p=1", wantErr: "unknown parameter"},
		{name: "NoValue", in: "m=,t=1,p=1", wantErr: "not a number"},
		{name: "NotANumber", in: "m=lots,t=1,p=1", wantErr: "not a number"},
		{name: "Negative", in: "m=64,t=-1,p=1", wantErr: "not a number"},
		{name: "Float", in: "m=64,t=1.5,p=1", wantErr: "not a number"},
		{name: "Overflow", in: "m=4294967296,t=1,p=1", wantErr: "not a number"},
		{name: "TrailingComma", in: "m=64,t=1,p=1,", wantErr: "not key=value"},
		{name: "Semicolons", in: "m=64;t=1;p=1", wantErr: "not a number"},
		{name: "TimeZero", in: "m=64,t=0,p=1", wantErr: "time must be between 1 and 100"},
		{name: "TimeTooHigh", in: "m=64,t=101,p=1", wantErr: "time must be between 1 and 100"},
		{name: "ThreadsZero", in: "m=64,t=1,p=0", wantErr: "threads must be between 1 and 255"},
		{name: "ThreadsTooHigh", in: "m=4096,t=1,p=256", wantErr: "threads must be between 1 and 255"},
		{name: "MemoryBelow8PerThread", in: "m=31,t=1,p=4", wantErr: "memory must be between 8*p (32)"},
		{name: "MemoryZero", in: "m=0,t=1,p=1", wantErr: "memory must be between"},
		{name: "MemoryOver4GiB", in: "m=4194305,t=1,p=1", wantErr: "memory must be between"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := password.ParseParams(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseParams(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseParams(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParamsString(t *testing.T) {
	if got, want := password.DefaultParams.String(), "m=19456,t=2,p=1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"m=19456,t=2,p=1", "p=1,t=1,m=8", "m=4194304,t=100,p=255", "", "m=,t=,p=", "m=1,m=1", "m=99999999999,t=1,p=1", "t=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := password.ParseParams(s)
		if err != nil {
			return
		}
		if p.Threads < 1 || p.Time < 1 || p.Time > 100 || p.Memory < 8*uint32(p.Threads) || p.Memory > 4<<20 {
			t.Fatalf("ParseParams(%q) = %v: out of bounds", s, p)
		}
		back, err := password.ParseParams(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip of %v: got %v, %v", p, back, err)
		}
	})
}
