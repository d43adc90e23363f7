package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procSample is a process's CPU time and memory read from /proc.
type procSample struct {
	cpuMS  float64 // user + system time
	rssKB  int64   // resident set size now
	peakKB int64   // highest resident set size so far (VmHWM)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// readProc samples process pid.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.cpuMS = float64(utime+stime) * 1000 / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKB = n
		case "VmHWM":
			s.peakKB = n
		}
	}
	return s, nil
}

// listenerPID finds the process listening on the TCP address of base
// ("http://127.0.0.1:8080"): the socket's inode from /proc/net/tcp{,6},
// then the process holding it among /proc/*/fd. It needs the right to read
// that process's fd table (same user or root).
func listenerPID(hostport string) (int, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return 0, err
	}
	inode, err := listenInode(ap)
	if err != nil {
		return 0, err
	}
	target := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, dir := range procs {
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == target {
				return strconv.Atoi(filepath.Base(filepath.Dir(dir)))
			}
		}
	}
	return 0, fmt.Errorf("no readable process holds the listening socket of %s", ap)
}

// listenInode returns the inode of the socket listening on ap.
func listenInode(ap netip.AddrPort) (string, error) {
	file := "/proc/net/tcp"
	if ap.Addr().Is6() {
		file = "/proc/net/tcp6"
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	want := fmt.Sprintf(":%04X", ap.Port())
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st … inode (field 10); 0A is LISTEN.
		if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		local := strings.TrimSuffix(f[1], want)
		if local == procAddr(ap.Addr()) || strings.Trim(local, "0") == "" {
			return f[9], nil
		}
	}
	return "", fmt.Errorf("nothing listens on %s (%s)", ap, file)
}

// procAddr writes a as /proc/net/tcp does: the address's 32-bit words in
// host byte order (little-endian here), in hex.
func procAddr(a netip.Addr) string {
	b := a.AsSlice()
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&sb, "%02X%02X%02X%02X", b[i+3], b[i+2], b[i+1], b[i])
	}
	return sb.String()
}

// machineSample is what the whole machine's CPUs have done since boot, and
// the CPU time of the processes that share them with the server: this
// tool and the database's (PostgreSQL's backends are processes named
// postgres). Where the server's CPU is not the whole story, the split
// says where the rest went.
type machineSample struct {
	busyMS, totalMS float64 // over all CPUs, from /proc/stat
	toolMS          float64 // this process
	postgresMS      float64 // every process named postgres
}

// readMachine samples the machine.
func readMachine() (machineSample, error) {
	var m machineSample
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return m, errors.New("/proc/stat: unexpected format")
	}
	// user nice system idle iowait irq softirq steal …, in clock ticks
	for i, v := range f[1:9] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/stat: %w", err)
		}
		ms := n * 1000 / clockTicks
		m.totalMS += ms
		if i != 3 && i != 4 { // idle, iowait
			m.busyMS += ms
		}
	}
	self, err := readProc(os.Getpid())
	if err != nil {
		return m, err
	}
	m.toolMS = self.cpuMS
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return m, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if p, err := readProc(pid); err == nil { // a backend may end meanwhile
			m.postgresMS += p.cpuMS
		}
	}
	return m, nil
}
