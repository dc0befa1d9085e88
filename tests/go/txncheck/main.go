// txncheck: franz-go's GroupTransactSession against brokerd, a
// consume-transform-produce loop with exactly-once semantics (issue 14).
//
// Usage: txncheck BROKERS IN OUT GROUP TXN_ID N
//
// Consumes IN in GROUP (read_committed), and for every record produces
// "out-" + value to OUT inside a transaction whose offsets commit with
// it. The first transaction that carries records is aborted on purpose,
// so its records are consumed again and go out in a later, committed
// transaction. Stops once N records went out in committed transactions;
// prints "transformed N aborted A" and exits 0, or "error: ..." and
// exits 1.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Println("error: usage: txncheck BROKERS IN OUT GROUP TXN_ID N")
		os.Exit(1)
	}
	n, err := strconv.Atoi(os.Args[6])
	if err == nil {
		err = run(strings.Split(os.Args[1], ","), os.Args[2], os.Args[3],
			os.Args[4], os.Args[5], n)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run(brokers []string, in, out, group, txnID string, n int) error {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(brokers...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(60*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	done, aborted := 0, 0
	for done < n {
		fetches := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("timed out with %d of %d transformed", done, n)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("fetch: %v", errs[0].Err)
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		count := 0
		fetches.EachRecord(func(r *kgo.Record) {
			count++
			v := append([]byte("out-"), r.Value...)
			sess.Produce(ctx, &kgo.Record{Value: v, Partition: r.Partition},
				func(_ *kgo.Record, err error) {
					if err != nil {
						fmt.Fprintln(os.Stderr, "produce:", err)
					}
				})
		})
		abort := count > 0 && aborted == 0
		how := kgo.TryCommit
		if abort {
			// Sent first, so that the aborted copies are in the log
			// (read_uncommitted readers see them, read_committed ones
			// must not); an abort alone drops what is buffered.
			if err := sess.Client().Flush(ctx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			how = kgo.TryAbort
		}
		committed, err := sess.End(ctx, how)
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if abort {
			aborted++
		} else if committed {
			done += count
		}
	}
	fmt.Printf("transformed %d aborted %d\n", done, aborted)
	return nil
}
