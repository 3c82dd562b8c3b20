// many_producers: the Go client's side of pulsarc-many-producers (issue #13
// item 2). N producers on one client, one topic each, or one producer on a
// topic of P partitions, against a broker that runs in another process, so
// the RSS and CPU read here are the client's alone. Default client and
// producer options (the only one set is a round-robin router for the
// partitioned topic, as pulsarc-many-producers sets one), default GOGC.
//
// Phases and figures, in the vocabulary of pulsarc-many-producers' JSON:
//   - create: every producer created from its own goroutine (CreateProducer
//     blocks), create_seconds until the last one returned;
//   - settle-ms later: rss_idle_kib, and CPU over those settle-ms;
//   - one message on each producer (each partition): SendAsync, then wait for
//     every receipt; settle-ms after the last receipt: rss_sent_kib, and the
//     peak so far (VmHWM) as rss_peak_kib;
//   - idle-s of nothing: idle_cpu_pct (user+sys of this process);
//   - duration-s of 100 B messages, round robin over all producers from one
//     goroutine with SendAsync, then wait for the outstanding receipts:
//     tput_msgs_per_s = receipts / (time to the last receipt); the peak after
//     it is rss_peak_end_kib.
//
// One JSON line on stdout; the client's own log goes to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
)

// statusKiB reads VmRSS or VmHWM (KiB) from /proc/self/status.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, field+":") {
			fs := strings.Fields(line[len(field)+1:])
			if len(fs) > 0 {
				v, _ := strconv.ParseInt(fs[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// cpuOver sleeps d and returns the process's CPU over it as % of one core.
func cpuOver(d time.Duration) float64 {
	c0, t0 := cpuSeconds(), time.Now()
	time.Sleep(d)
	el := time.Since(t0).Seconds()
	if el <= 0 {
		return 0
	}
	return 100 * (cpuSeconds() - c0) / el
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "many_producers: "+format+"\n", a...)
	os.Exit(1)
}

// waitFor polls until n() >= want or the bound passes; false on timeout.
func waitFor(n func() int64, want int64, bound time.Duration) bool {
	give := time.Now().Add(bound)
	for n() < want {
		if time.Now().After(give) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

func main() {
	url := flag.String("service-url", "", "broker service URL (required)")
	producers := flag.Int("producers", 10000, "producers, one topic each")
	partitions := flag.Int("partitions", 0, "one producer on the partitioned topic --topic of this many partitions")
	topic := flag.String("topic", "go-many", "topic name, or prefix (name-i) for --producers")
	settleMs := flag.Int("settle-ms", 2000, "wait after creation and after the last receipt before reading RSS")
	idleS := flag.Int("idle-s", 10, "idle window for the CPU figure")
	durationS := flag.Float64("duration-s", 10, "throughput phase (0: none)")
	size := flag.Int("size", 100, "payload bytes")
	createTimeout := flag.Int("create-timeout-s", 300, "bound on creating all producers")
	flag.Parse()
	if *url == "" {
		fail("--service-url is required")
	}
	if *partitions > 0 {
		*producers = 1
	}
	units := int64(*producers)
	if *partitions > 0 {
		units = int64(*partitions)
	}

	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: *url})
	if err != nil {
		fail("client: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	rssBefore := statusKiB("VmRSS")

	// ---- creation ----
	ps := make([]pulsar.Producer, *producers)
	var rr uint32
	t0 := time.Now()
	var wg sync.WaitGroup
	var createErr atomic.Value
	var created int64
	for i := 0; i < *producers; i++ {
		opts := pulsar.ProducerOptions{Topic: fmt.Sprintf("%s-%d", *topic, i)}
		if *partitions > 0 {
			opts.Topic = *topic
			opts.MessageRouter = func(_ *pulsar.ProducerMessage, md pulsar.TopicMetadata) int {
				return int(atomic.AddUint32(&rr, 1) % md.NumPartitions())
			}
		}
		wg.Add(1)
		go func(i int, o pulsar.ProducerOptions) {
			defer wg.Done()
			p, err := client.CreateProducer(o)
			if err != nil {
				createErr.Store(fmt.Sprintf("create %s: %v", o.Topic, err))
				return
			}
			ps[i] = p
			atomic.AddInt64(&created, 1)
		}(i, opts)
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(time.Duration(*createTimeout) * time.Second):
		// Seen with 10,000 producers: CreateProducer calls that never
		// return (no error, no log line) once the broker has answered.
		fail("%d of %d producers created after %d s (CreateProducer calls still blocked, no error returned)",
			atomic.LoadInt64(&created), *producers, *createTimeout)
	}
	createS := time.Since(t0).Seconds()
	if e := createErr.Load(); e != nil {
		n := 0
		for _, p := range ps {
			if p != nil {
				n++
			}
		}
		fail("%d of %d producers created; first error: %s", n, *producers, e)
	}
	idleAfterCreate := cpuOver(time.Duration(*settleMs) * time.Millisecond)
	rssIdle := statusKiB("VmRSS")

	// ---- one message on each producer (each partition) ----
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = 'x'
	}
	var done, failed int64
	cb := func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
		if err != nil {
			atomic.AddInt64(&failed, 1)
		}
		atomic.AddInt64(&done, 1)
	}
	ctx := context.Background()
	total := units
	t1 := time.Now()
	for i := int64(0); i < total; i++ {
		p := ps[i%int64(len(ps))]
		p.SendAsync(ctx, &pulsar.ProducerMessage{Payload: payload}, cb)
	}
	if !waitFor(func() int64 { return atomic.LoadInt64(&done) }, total, 600*time.Second) {
		fail("%d of %d receipts within 600 s", atomic.LoadInt64(&done), total)
	}
	sendS := time.Since(t1).Seconds()
	time.Sleep(time.Duration(*settleMs) * time.Millisecond)
	rssSent := statusKiB("VmRSS")
	hwm := statusKiB("VmHWM")

	// ---- idle CPU ----
	idleCPU := cpuOver(time.Duration(*idleS) * time.Second)

	// ---- aggregate throughput over all producers ----
	var tputMsgs int64
	var tputS float64
	if *durationS > 0 {
		base := atomic.LoadInt64(&done)
		var sent int64
		t2 := time.Now()
		end := t2.Add(time.Duration(*durationS * float64(time.Second)))
		for i := int64(0); ; i++ {
			if i%256 == 0 && time.Now().After(end) {
				break
			}
			ps[i%int64(len(ps))].SendAsync(ctx, &pulsar.ProducerMessage{Payload: payload}, cb)
			sent++
		}
		if !waitFor(func() int64 { return atomic.LoadInt64(&done) - base }, sent, 600*time.Second) {
			fail("throughput phase: %d of %d receipts within 600 s", atomic.LoadInt64(&done)-base, sent)
		}
		tputS = time.Since(t2).Seconds()
		tputMsgs = sent
	}
	hwmEnd := statusKiB("VmHWM")

	perUnit := func(v int64) float64 { return float64(v-rssBefore) / float64(units) }
	rate := 0.0
	if sendS > 0 {
		rate = float64(total) / sendS
	}
	tput := 0.0
	if tputS > 0 {
		tput = float64(tputMsgs) / tputS
	}
	out := map[string]interface{}{
		"client": "go", "producers": *producers, "partitions": *partitions, "messages_each": 1,
		"mode": "async", "create_mode": "goroutine per CreateProducer",
		"create_seconds": createS, "rss_before_kib": rssBefore, "rss_idle_kib": rssIdle,
		"rss_sent_kib": rssSent, "rss_peak_kib": hwm, "rss_peak_end_kib": hwmEnd,
		"kib_per_unit_idle": perUnit(rssIdle), "kib_per_unit_sent": perUnit(rssSent),
		"kib_per_unit_peak": perUnit(hwm), "settle_ms": *settleMs, "send_seconds": sendS,
		"msgs_per_s": rate, "errors": atomic.LoadInt64(&failed), "idle_cpu_pct": idleCPU,
		"idle_seconds": *idleS, "idle_after_create_cpu_pct": idleAfterCreate,
		"tput_seconds": tputS, "tput_messages": tputMsgs, "tput_msgs_per_s": tput,
		"size": *size, "broker": "external",
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	for _, p := range ps {
		p.Close()
	}
	client.Close()
	if atomic.LoadInt64(&failed) != 0 {
		os.Exit(1)
	}
}
