package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// doc is a file's text as lines, keeping each line's ending.
type doc struct {
	lines   []string // without line endings
	crlf    []bool   // crlf[i]: line i ended in "\r\n" rather than "\n"
	noEOL   bool     // the last line has no line ending
	newCRLF bool     // lines the edits add end in "\r\n" (the file's first line did)
}

func parseDoc(s string) *doc {
	d := &doc{}
	if s == "" {
		return d
	}
	parts := strings.Split(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	} else {
		d.noEOL = true
	}
	for i, l := range parts {
		cr := strings.HasSuffix(l, "\r") && !(d.noEOL && i == len(parts)-1)
		if cr {
			l = l[:len(l)-1]
		}
		d.lines = append(d.lines, l)
		d.crlf = append(d.crlf, cr)
	}
	d.newCRLF = d.crlf[0]
	return d
}

func (d *doc) String() string {
	var b strings.Builder
	for i, l := range d.lines {
		b.WriteString(l)
		switch {
		case i == len(d.lines)-1 && d.noEOL:
		case d.crlf[i]:
			b.WriteString("\r\n")
		default:
			b.WriteString("\n")
		}
	}
	return b.String()
}

// result summarises the edits applied to a doc.
type result struct {
	removed, added int
	notes          []string // hunks placed away from their header's line
}

// apply applies the edits in order, each to the result of those before.
// On error d is left part-way and must be discarded.
func (d *doc) apply(edits []edit) (result, error) {
	var res result
	delta := 0 // lines added minus removed by earlier hunks, to shift header line numbers
	for _, e := range edits {
		var (
			pos int
			err error
		)
		if e.hunk {
			pos, err = d.placeHunk(e, delta, &res)
		} else {
			pos, err = d.placeBlock(e)
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", e.label, err)
		}
		removed, added := d.replace(pos, e)
		res.removed += removed
		res.added += added
		delta += len(e.new) - len(e.old)
	}
	return res, nil
}

// placeBlock finds the one place a SEARCH matches.
func (d *doc) placeBlock(e edit) (int, error) {
	if len(e.old) == 0 {
		if len(d.lines) == 0 {
			return 0, nil
		}
		return 0, errors.New("SEARCH is empty, which is allowed only for an empty or missing file; put the lines to change in SEARCH")
	}
	switch at := d.matches(e.old); len(at) {
	case 0:
		return 0, d.explainMiss("SEARCH", e.old)
	case 1:
		return at[0], nil
	default:
		return 0, fmt.Errorf("SEARCH matches %d places (%s); add neighbouring lines to SEARCH until it matches only one", len(at), lineList(at))
	}
}

// placeHunk finds where a hunk applies: the line its header names (shifted
// by earlier hunks), else the one place its old lines match exactly.
func (d *doc) placeHunk(e edit, delta int, res *result) (int, error) {
	want := -1
	if e.at >= 0 {
		want = e.at + delta
	}
	if len(e.old) == 0 {
		switch {
		case want < 0:
			return 0, errors.New("the hunk only adds lines and its @@ header has no line number to place them")
		case want > len(d.lines):
			return 0, fmt.Errorf("it adds lines after line %d, but the file has %d lines", want, len(d.lines))
		}
		return want, nil
	}
	if want >= 0 && d.matchAt(e.old, want) {
		return want, nil
	}
	at := d.matches(e.old)
	switch {
	case len(at) == 1:
		if want >= 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s applied at line %d, not line %d", e.label, at[0]+1, want+1))
		}
		return at[0], nil
	case len(at) > 1 && want >= 0:
		return 0, fmt.Errorf("its context does not match at line %d and matches %d other places (%s); fix the @@ line numbers or add context", want+1, len(at), lineList(at))
	case len(at) > 1:
		return 0, fmt.Errorf("its context matches %d places (%s); add context or @@ line numbers", len(at), lineList(at))
	}
	return 0, d.explainMiss("its context and removed lines", e.old)
}

// matches returns every line index where old matches.
func (d *doc) matches(old []string) []int {
	var at []int
	for i := 0; i+len(old) <= len(d.lines); i++ {
		if d.matchAt(old, i) {
			at = append(at, i)
		}
	}
	return at
}

func (d *doc) matchAt(old []string, i int) bool {
	if i < 0 || i+len(old) > len(d.lines) {
		return false
	}
	for j, l := range old {
		if d.lines[i+j] != l {
			return false
		}
	}
	return true
}

// explainMiss says why old is not in the file, pointing at the nearest thing
// that is, so the caller can correct the edit. Nothing near is ever applied.
func (d *doc) explainMiss(what string, old []string) error {
	if len(d.lines) == 0 {
		return fmt.Errorf("%s not found: the file is empty", what)
	}
	squashed := make([]string, len(d.lines))
	for i, l := range d.lines {
		squashed[i] = squash(l)
	}
	for i := 0; i+len(old) <= len(d.lines); i++ {
		same := true
		for j, l := range old {
			if squashed[i+j] != squash(l) {
				same = false
				break
			}
		}
		if same {
			return fmt.Errorf("%s not found; it would match at line %d if whitespace were ignored: copy the indentation and spacing exactly", what, i+1)
		}
	}
	best, bestLen := -1, 0
	for i := range d.lines {
		k := 0
		for k < len(old) && i+k < len(d.lines) && d.lines[i+k] == old[k] {
			k++
		}
		if k > bestLen {
			best, bestLen = i, k
		}
	}
	if best < 0 {
		return fmt.Errorf("%s not found; no line of the file is its first line %q", what, clip(old[0]))
	}
	if best+bestLen == len(d.lines) {
		return fmt.Errorf("%s not found; its first %d lines match lines %d-%d, but then the file ends", what, bestLen, best+1, best+bestLen)
	}
	return fmt.Errorf("%s not found; its first %d lines match at line %d, then its line %d is %q but line %d of the file is %q",
		what, bestLen, best+1, bestLen+1, clip(old[bestLen]), best+bestLen+1, clip(d.lines[best+bestLen]))
}

// replace puts e.new in place of the len(e.old) lines at pos, touching only
// the lines that differ, and returns how many lines it removed and added.
func (d *doc) replace(pos int, e edit) (removed, added int) {
	old, new := e.old, e.new
	p := 0
	for p < len(old) && p < len(new) && old[p] == new[p] {
		p++
	}
	s := 0
	for s < len(old)-p && s < len(new)-p && old[len(old)-1-s] == new[len(new)-1-s] {
		s++
	}
	start, end := pos+p, pos+len(old)-s
	mid := new[p : len(new)-s]
	atEnd := pos+len(old) == len(d.lines)

	lines := make([]string, 0, len(d.lines)-(end-start)+len(mid))
	lines = append(append(append(lines, d.lines[:start]...), mid...), d.lines[end:]...)
	crlf := make([]bool, 0, len(lines))
	crlf = append(crlf, d.crlf[:start]...)
	for range mid {
		crlf = append(crlf, d.newCRLF)
	}
	crlf = append(crlf, d.crlf[end:]...)
	d.lines, d.crlf = lines, crlf

	if e.hunk && atEnd && (e.oldNoEOL || e.newNoEOL) {
		d.noEOL = e.newNoEOL
	}
	if len(d.lines) == 0 {
		d.noEOL = false
	}
	return end - start, len(mid)
}

// squash collapses runs of white space and trims the ends, for the
// whitespace-blind comparison behind a hint.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens a line quoted in a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:77]) + "..."
	}
	return s
}

// lineList renders 0-based indexes as 1-based line numbers, at most five.
func lineList(at []int) string {
	var b strings.Builder
	b.WriteString("lines ")
	for i, a := range at {
		if i == 5 {
			b.WriteString(", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(a + 1))
	}
	return b.String()
}
