// hubbub-benchreport reads result lines of cmd/hubbub-load and of the peer
// benchmarks' loadclient (JSON, one per line, from files or stdin), reduces
// repeated runs to their median, and prints a markdown table; with -svg it
// also draws deliveries per second against subscribers.
//
//	hubbub-benchreport -svg docs/benchmarks-fanout.svg results.jsonl
package main

import (
	"flag"
	"io"
	"log"
	"os"

	"github.com/hubbubhq/hubbub/cmd/internal/report"
)

func main() {
	svg := flag.String("svg", "", "write an SVG chart to this file")
	title := flag.String("title", "Fan-out burst to one room: median deliveries per second", "chart title")
	subtitle := flag.String("subtitle", "", "a line under the title (conditions)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("hubbub-benchreport: ")

	var rows []report.Row
	read := func(r io.Reader) {
		rs, err := report.Read(r)
		if err != nil {
			log.Fatal(err)
		}
		rows = append(rows, rs...)
	}
	if flag.NArg() == 0 {
		read(os.Stdin)
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			log.Fatal(err)
		}
		read(f)
		f.Close()
	}
	sums := report.Summarize(rows)
	report.Markdown(os.Stdout, sums)
	if *svg != "" {
		f, err := os.Create(*svg)
		if err != nil {
			log.Fatal(err)
		}
		report.SVG(f, sums, *title, *subtitle)
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
