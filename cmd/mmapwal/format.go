package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// table writes aligned columns (text/tabwriter), each row indented.
type table struct {
	tw     *tabwriter.Writer
	indent string
}

func newTable(w io.Writer, indent string) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0), indent: indent}
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintf(t.tw, "%s%s\n", t.indent, strings.Join(s, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// size formats a byte count with a binary unit: "312 B", "4 KiB",
// "63.9 KiB", "1.5 MiB".
func size(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n) / 1024
	u := 0
	for (v >= 1024 || v <= -1024) && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + units[u]
}

// sizeExact is size with the exact count when the unit rounds it:
// "312 B", "4.5 KiB (4608 bytes)".
func sizeExact(n int64) string {
	if n < 1024 && n > -1024 {
		return size(n)
	}
	return fmt.Sprintf("%s (%d bytes)", size(n), n)
}

// percent formats part/whole as "99.8%".
func percent(part, whole int64) string {
	if whole <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

// seqRange formats the records first..last, or "none".
func seqRange(first, last uint64) string {
	if first == 0 || first > last {
		return "none"
	}
	return fmt.Sprintf("%d..%d", first, last)
}

// escapeText returns b as text: valid printable UTF-8 as it is, a backslash
// doubled, and every other byte escaped (\n, \t, \r, \xHH), so that a
// payload never moves the terminal's cursor or breaks a line.
func escapeText(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == utf8.RuneError && n <= 1, !unicode.IsPrint(r):
			for _, c := range b[:n] {
				fmt.Fprintf(&sb, `\x%02x`, c)
			}
		default:
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// clip shortens s to at most n runes for a table cell, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
