package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// edit replaces the consecutive whole lines old with new. Lines carry no
// line endings; the file's own endings are kept.
type edit struct {
	label    string   // how messages name it: "block 2 (input line 9)"
	old, new []string // old is empty for a pure insertion

	hunk bool // from a unified diff: placed by at, and the no-newline markers count
	at   int  // hunk: 0-based line where old starts according to the header; -1 if unknown

	oldNoEOL, newNoEOL bool // hunk: "\ No newline at end of file" after the last old/new line
}

var (
	searchMarker  = regexp.MustCompile(`^<{5,9} ?SEARCH\s*$`)
	dividerMarker = regexp.MustCompile(`^={5,9}\s*$`)
	replaceMarker = regexp.MustCompile(`^>{5,9} ?REPLACE\s*$`)
	hunkHeader    = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@`)
)

// parseEdits reads SEARCH/REPLACE blocks or, if there are none, a unified
// diff. kind names what was found ("block" or "hunk").
func parseEdits(input string) (edits []edit, kind string, err error) {
	lines := strings.Split(strings.ReplaceAll(input, "\r\n", "\n"), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		if searchMarker.MatchString(l) {
			edits, err = parseBlocks(lines)
			return edits, "block", err
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "@@") {
			edits, err = parseUnified(lines)
			return edits, "hunk", err
		}
	}
	return nil, "", errors.New("no edit on standard input: want <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks or a unified diff (see patch -h)")
}

// parseBlocks parses SEARCH/REPLACE blocks, ignoring text between them.
func parseBlocks(lines []string) ([]edit, error) {
	const (
		outside = iota
		inSearch
		inReplace
	)
	var (
		edits []edit
		cur   edit
		start int // input line of the current block's SEARCH marker
	)
	state := outside
	for i, l := range lines {
		n := i + 1
		switch {
		case searchMarker.MatchString(l):
			if state != outside {
				return nil, fmt.Errorf("block %d (input line %d) has no >>>>>>> REPLACE before the next <<<<<<< SEARCH at line %d", len(edits)+1, start, n)
			}
			start, state = n, inSearch
			cur = edit{label: fmt.Sprintf("block %d (input line %d)", len(edits)+1, n), old: []string{}, new: []string{}}
		case state == inSearch && dividerMarker.MatchString(l):
			state = inReplace
		case replaceMarker.MatchString(l):
			switch state {
			case outside:
				return nil, fmt.Errorf("input line %d: >>>>>>> REPLACE outside a block", n)
			case inSearch:
				return nil, fmt.Errorf("block %d (input line %d) has no ======= between SEARCH and REPLACE", len(edits)+1, start)
			}
			edits = append(edits, cur)
			state = outside
		case state == inSearch:
			cur.old = append(cur.old, l)
		case state == inReplace:
			cur.new = append(cur.new, l) // a "=======" line here is text
		case dividerMarker.MatchString(l):
			return nil, fmt.Errorf("input line %d: ======= outside a block", n)
		}
	}
	if state != outside {
		return nil, fmt.Errorf("block %d (input line %d) is not closed with >>>>>>> REPLACE", len(edits)+1, start)
	}
	return edits, nil
}

// bodyLine is one line of a hunk: kind is ' ', '-' or '+'; bare marks an
// empty line that stands for an empty context line (its " " was stripped).
type bodyLine struct {
	kind  byte
	text  string
	bare  bool
	noEOL bool
}

// parseUnified parses a unified diff of a single file. The @@ line counts are
// only used to drop blank lines trailing the last hunk; a hunk ends at the next
// @@, file header, or line that cannot belong to a hunk.
func parseUnified(lines []string) ([]edit, error) {
	var (
		edits  []edit
		body   []bodyLine
		header string
		inHunk bool
		at     = -1
		counts []int // old and new counts from the header, if it had numbers
		files  int
	)
	finish := func() error {
		if !inHunk {
			return nil
		}
		inHunk = false
		for len(body) > 0 && body[len(body)-1].bare && counts != nil {
			o, n := sides(body)
			if o <= counts[0] || n <= counts[1] {
				break
			}
			body = body[:len(body)-1]
		}
		e := edit{label: fmt.Sprintf("hunk %d (%s)", len(edits)+1, header), old: []string{}, new: []string{}, hunk: true, at: at}
		for _, b := range body {
			if b.kind != '+' {
				e.old = append(e.old, b.text)
				e.oldNoEOL = b.noEOL
			}
			if b.kind != '-' {
				e.new = append(e.new, b.text)
				e.newNoEOL = b.noEOL
			}
		}
		if len(e.old) == 0 && len(e.new) == 0 {
			return fmt.Errorf("%s has no lines", e.label)
		}
		edits = append(edits, e)
		return nil
	}

	for i := 0; i < len(lines); i++ {
		l, n := lines[i], i+1
		switch {
		case strings.HasPrefix(l, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ "):
			if err := finish(); err != nil {
				return nil, err
			}
			if files++; files > 1 {
				return nil, fmt.Errorf("input line %d: the diff changes more than one file; give patch one file's diff at a time", n)
			}
			if strings.HasPrefix(strings.TrimSpace(lines[i+1][4:]), "/dev/null") {
				return nil, errors.New("the diff deletes the file; patch does not delete files")
			}
			i++
		case strings.HasPrefix(l, "@@"):
			if err := finish(); err != nil {
				return nil, err
			}
			inHunk, body, at, counts = true, nil, -1, nil
			header = l
			if m := hunkHeader.FindStringSubmatch(l); m != nil {
				header = m[0]
				oldStart, _ := strconv.Atoi(m[1])
				oldCount, newCount := 1, 1
				if m[2] != "" {
					oldCount, _ = strconv.Atoi(m[2])
				}
				if m[4] != "" {
					newCount, _ = strconv.Atoi(m[4])
				}
				counts = []int{oldCount, newCount}
				at = oldStart - 1
				if oldCount == 0 { // "-5,0": insert after line 5
					at = oldStart
				}
			}
		case inHunk && l == "":
			body = append(body, bodyLine{kind: ' ', bare: true})
		case inHunk && (l[0] == ' ' || l[0] == '-' || l[0] == '+'):
			body = append(body, bodyLine{kind: l[0], text: l[1:]})
		case inHunk && l[0] == '\\':
			if len(body) > 0 {
				body[len(body)-1].noEOL = true
			}
		case inHunk:
			if err := finish(); err != nil { // any other line ends the hunk
				return nil, err
			}
		case len(edits) > 0 && l != "" && strings.ContainsRune(" -+", rune(l[0])):
			return nil, fmt.Errorf("input line %d is outside any hunk: %q (inside a hunk every line starts with ' ', '-' or '+')", n, l)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return edits, nil
}

// allInsertions reports whether no edit needs existing lines, so that the
// edits can create a file.
func allInsertions(edits []edit) bool {
	for _, e := range edits {
		if len(e.old) > 0 {
			return false
		}
	}
	return true
}

// sides counts the old and new lines of a hunk body.
func sides(body []bodyLine) (old, new int) {
	for _, b := range body {
		if b.kind != '+' {
			old++
		}
		if b.kind != '-' {
			new++
		}
	}
	return old, new
}
