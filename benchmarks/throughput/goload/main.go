// Command goload is the benchmarks' HTTP load generator built with Go: the spec, the modes and
// the output of benchmarks/loadgen.py (closed loop, open loop, burst), for less CPU per request
// (most of it is a wake-up per request when requests arrive one by one). On a 2-core machine the
// load generator shares the cores with the system under test, so every microsecond it spends
// per request is taken from the server it measures.
//
// Usage: goload SPEC.json OUT.json (benchmarks/load.py runs it; see benchmarks/loadgen.py for
// the meaning of each field and of the statuses: 0 a connection error, -1 a connection not
// accepted within connect_timeout, -2 no response within timeout).
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	statusConnectTimeout  = -1
	statusResponseTimeout = -2
	tick                  = time.Millisecond
)

type spec struct {
	URL             string            `json:"url"`
	Requests        [][3]string       `json:"requests"`
	Duration        float64           `json:"duration"`
	Warmup          float64           `json:"warmup"`
	Template        bool              `json:"template"`
	Mode            string            `json:"mode"`
	Concurrency     int               `json:"concurrency"`
	Rate            float64           `json:"rate"`
	Headers         map[string]string `json:"headers"`
	Timeout         *float64          `json:"timeout"`
	ConnectTimeout  *float64          `json:"connect_timeout"`
	HonorRetryAfter bool              `json:"honor_retry_after"`
	MaxConnections  int               `json:"max_connections"`
}

type output struct {
	Started    []float64 `json:"started"`
	Latency    []float64 `json:"latency"`
	Status     []int     `json:"status"`
	WallS      float64   `json:"wall_s"`
	CPUS       float64   `json:"cpu_s"`
	Reconnects int64     `json:"reconnects"`
}

type row struct {
	started, latency float64
	status           int
}

// load is one run: the requests to cycle through and what came back.
type load struct {
	address        string
	host           string
	extra          string
	requests       [][3]string
	template       bool
	warmup         float64
	duration       float64
	timeout        time.Duration // 0: none
	connectTimeout time.Duration // 0: none
	honor          bool
	t0             time.Time
	seq            atomic.Int64
	reconnects     atomic.Int64
	mu             sync.Mutex
	rows           []row
}

var errConnectTimeout = errors.New("connect timeout")

func seconds(value *float64) time.Duration {
	if value == nil {
		return 0
	}
	return time.Duration(*value * float64(time.Second))
}

func newLoad(s spec) (*load, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	keys := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		keys = append(keys, k)
	}
	var extra strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&extra, "%s: %s\r\n", k, s.Headers[k])
	}
	if len(s.Requests) == 0 {
		return nil, errors.New("the spec has no requests")
	}
	return &load{
		address: net.JoinHostPort(host, port), host: host, extra: extra.String(),
		requests: s.Requests, template: s.Template, warmup: s.Warmup, duration: s.Duration,
		timeout: seconds(s.Timeout), connectTimeout: seconds(s.ConnectTimeout),
		honor: s.HonorRetryAfter,
	}, nil
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (l *load) next() (string, string, string) {
	n := l.seq.Add(1) - 1
	r := l.requests[n%int64(len(l.requests))]
	method, path, body := r[0], r[1], r[2]
	if l.template {
		seq := strconv.FormatInt(n, 10)
		body = strings.ReplaceAll(body, "%SEQ%", seq)
		if strings.Contains(body, "%UUID%") {
			body = strings.ReplaceAll(body, "%UUID%", uuid4())
		}
		path = strings.ReplaceAll(path, "%SEQ%", seq)
	}
	return method, path, body
}

func (l *load) since(t time.Time) float64 { return t.Sub(l.t0).Seconds() }

// conn is one client's keep-alive connection.
type conn struct {
	load       *load
	c          net.Conn
	r          *bufio.Reader
	retryAfter float64
}

func (k *conn) close() {
	if k.c != nil {
		_ = k.c.Close()
		k.c, k.r = nil, nil
	}
}

// request sends one request and reads its whole response; the status. A reused connection
// that the server had closed while it sat idle (so it never read the request) gets the request
// once more on a new connection, as HTTP clients do, and is counted.
func (k *conn) request(method, path, body string, deadline time.Time) (int, error) {
	reused := k.c != nil
	status, answered, err := k.attempt(method, path, body, deadline)
	if err != nil && reused && !answered && !isTimeout(err) {
		k.close()
		k.load.reconnects.Add(1)
		status, _, err = k.attempt(method, path, body, deadline)
	}
	return status, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, errConnectTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

func (k *conn) dial(deadline time.Time) error {
	dialer := net.Dialer{Timeout: k.load.connectTimeout, Deadline: deadline}
	c, err := dialer.Dial("tcp", k.load.address)
	if err != nil {
		var ne net.Error
		// the connect timeout, unless the whole request's deadline came first
		if errors.As(err, &ne) && ne.Timeout() && k.load.connectTimeout > 0 &&
			(deadline.IsZero() || time.Until(deadline) > 0) {
			return errConnectTimeout
		}
		return err
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	k.c, k.r = c, bufio.NewReaderSize(c, 16<<10)
	return nil
}

// attempt: the status, whether any byte of a response came back, and the error.
func (k *conn) attempt(method, path, body string, deadline time.Time) (int, bool, error) {
	if k.c == nil {
		if err := k.dial(deadline); err != nil {
			return 0, false, err
		}
	}
	if err := k.c.SetDeadline(deadline); err != nil {
		return 0, false, err
	}
	head := method + " " + path + " HTTP/1.1\r\nHost: " + k.load.host +
		"\r\nContent-Type: application/json\r\n" + k.load.extra + "Content-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := k.c.Write([]byte(head)); err != nil {
		return 0, false, err
	}
	line, err := k.r.ReadString('\n')
	if err != nil {
		return 0, line != "", err
	}
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(parts) < 2 {
		return 0, true, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, true, err
	}
	length, chunked, closing := 0, false, false
	k.retryAfter = 0
	for {
		line, err = k.r.ReadString('\n')
		if err != nil {
			return 0, true, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			if length, err = strconv.Atoi(value); err != nil {
				return 0, true, err
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			closing = strings.EqualFold(value, "close")
		case "retry-after":
			if digits, err := strconv.Atoi(value); err == nil && digits >= 0 {
				k.retryAfter = float64(digits)
			}
		}
	}
	if chunked {
		err = k.skipChunks()
	} else {
		_, err = k.r.Discard(length)
	}
	if err != nil {
		return 0, true, err
	}
	if closing {
		k.close()
	}
	return status, true, nil
}

func (k *conn) skipChunks() error {
	for {
		line, err := k.r.ReadString('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil {
			return err
		}
		if _, err = k.r.Discard(int(size) + 2); err != nil {
			return err
		}
		if size == 0 {
			return nil
		}
	}
}

// one sends the next request on k and records it (unless it was scheduled in the warm-up).
func (l *load) one(k *conn, scheduled time.Time) {
	method, path, body := l.next()
	var deadline time.Time
	if l.timeout > 0 {
		deadline = time.Now().Add(l.timeout)
	}
	status, err := k.request(method, path, body, deadline)
	if err != nil {
		k.close()
		switch {
		case errors.Is(err, errConnectTimeout):
			status = statusConnectTimeout
		case isTimeout(err):
			status = statusResponseTimeout
		default:
			status = 0
		}
	}
	done := time.Now()
	if at := l.since(scheduled); at >= l.warmup {
		l.mu.Lock()
		l.rows = append(l.rows, row{at - l.warmup, done.Sub(scheduled).Seconds(), status})
		l.mu.Unlock()
	}
}

func (l *load) closed(concurrency int) {
	end := l.t0.Add(time.Duration((l.warmup + l.duration) * float64(time.Second)))
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &conn{load: l}
			defer k.close()
			for now := time.Now(); now.Before(end); now = time.Now() {
				l.one(k, now)
				if l.honor && k.retryAfter > 0 {
					wait := time.Duration(k.retryAfter * float64(time.Second))
					if left := time.Until(end); left < wait {
						wait = left
					}
					if wait > 0 {
						time.Sleep(wait)
					}
					k.retryAfter = 0
				}
			}
		}()
	}
	wg.Wait()
}

func (l *load) openLoop(rate float64, maxConnections int) {
	if maxConnections < 1 {
		maxConnections = 256
	}
	gate := make(chan struct{}, maxConnections)
	var idleMu sync.Mutex
	var idle []*conn
	var wg sync.WaitGroup
	total := int(rate * (l.warmup + l.duration))
	for i := 0; i < total; i++ {
		scheduled := l.t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		// arrivals due within the next tick go together (latency still counts from each one's
		// own schedule): a wake-up per arrival cost more CPU than the requests themselves
		if wait := time.Until(scheduled); wait > tick {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gate <- struct{}{}
			defer func() { <-gate }()
			idleMu.Lock()
			var k *conn
			if n := len(idle); n > 0 {
				k, idle = idle[n-1], idle[:n-1]
			}
			idleMu.Unlock()
			if k == nil {
				k = &conn{load: l}
			}
			l.one(k, scheduled)
			idleMu.Lock()
			idle = append(idle, k)
			idleMu.Unlock()
		}()
	}
	wg.Wait()
	for _, k := range idle {
		k.close()
	}
}

// burst opens connections clients at once, one request each, then closes every connection.
func (l *load) burst(connections int) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < connections; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k := &conn{load: l}
			l.one(k, l.t0)
			k.close()
		}()
	}
	l.t0 = time.Now()
	close(start)
	wg.Wait()
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func run(s spec) (output, error) {
	l, err := newLoad(s)
	if err != nil {
		return output{}, err
	}
	cpu0 := cpuSeconds()
	l.t0 = time.Now()
	switch s.Mode {
	case "closed":
		l.closed(max(1, s.Concurrency))
	case "burst":
		l.burst(max(1, s.Concurrency))
	case "rate":
		if s.Rate <= 0 {
			return output{}, errors.New("open loop needs a rate above 0")
		}
		l.openLoop(s.Rate, s.MaxConnections)
	default:
		return output{}, fmt.Errorf("unknown mode %q", s.Mode)
	}
	out := output{
		Started: make([]float64, len(l.rows)), Latency: make([]float64, len(l.rows)),
		Status: make([]int, len(l.rows)), WallS: time.Since(l.t0).Seconds() - l.warmup,
		CPUS: cpuSeconds() - cpu0, Reconnects: l.reconnects.Load(),
	}
	for i, r := range l.rows {
		out.Started[i], out.Latency[i], out.Status[i] = r.started, r.latency, r.status
	}
	return out, nil
}

func main() {
	// One thread runs the goroutines: no hand-offs between threads per request, and the cores
	// are left to the system measured (one thread drives tens of thousands of requests/s).
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goload SPEC.json OUT.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "goload:", err)
		os.Exit(2)
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		fmt.Fprintln(os.Stderr, "goload: the spec:", err)
		os.Exit(2)
	}
	out, err := run(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goload:", err)
		os.Exit(2)
	}
	encoded, err := json.Marshal(out)
	if err == nil {
		err = os.WriteFile(os.Args[2], encoded, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goload:", err)
		os.Exit(1)
	}
}
