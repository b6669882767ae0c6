package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/airlockhq/airlock/runtime"
)

// Shell completion: `airlock completion bash|zsh|fish` prints a script
// that asks the binary itself what may come next (`airlock __complete
// WORD…`), so the completions are always this binary's commands and
// flags: the flags are read from each command's own --help.

const completeCommand = "__complete"

const completionSynopsis = `usage: airlock completion bash|zsh|fish
Print a script that completes airlock's commands, subcommands and flags:
  bash:  source <(airlock completion bash)        (or save it in /etc/bash_completion.d/airlock)
  zsh:   source <(airlock completion zsh)         (or save it as _airlock in a folder of $fpath)
  fish:  airlock completion fish | source         (or save it in ~/.config/fish/completions/airlock.fish)`

func completionCmd(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("completion", std.err)
	if err := parseFlags(fs, args, std, completionSynopsis); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return missingArg(completionSynopsis, "completion")
	}
	switch fs.Arg(0) {
	case "bash":
		fmt.Fprint(std.out, bashCompletion)
	case "zsh":
		fmt.Fprint(std.out, zshCompletion)
	case "fish":
		fmt.Fprint(std.out, fishCompletion)
	default:
		return unknownWord("shell", fs.Arg(0), "airlock completion", []string{"bash", "zsh", "fish"})
	}
	return nil
}

// subcommands are the words that may follow a command.
func subcommands(cmd string) []string {
	switch cmd {
	case "policy":
		return []string{"check", "explain"}
	case "grants":
		return []string{"list", "revoke"}
	case "trace":
		return []string{"show"}
	case "completion":
		return []string{"bash", "zsh", "fish"}
	case "warm":
		return []string{"start", "serve", "stop", "status"}
	case "help":
		return commandNames()
	}
	return nil
}

// flagValues are the values of flags that take one of a few words.
func flagValues(flag string) []string {
	switch flag {
	case "--approvals":
		return []string{"untrusted", "on-request", "on-failure", "never"}
	case "--interrupt":
		return []string{"exit", "instrument"}
	case "--engine":
		return runtime.Engines()
	case "--otel":
		return []string{"otlp", "file", "stdout", "none"}
	case "--otel-protocol":
		return []string{"http", "grpc"}
	case "--audit":
		return []string{"off"}
	}
	return nil
}

// complete prints, one a line, the words that may replace the last of
// words (the word being typed; the ones before it are the command line
// after "airlock"). Nothing printed means: complete file names.
func complete(words []string, std stdio) error {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	before := words[:len(words)-1]
	var out []string
	switch {
	case len(before) == 0:
		out = append(commandNames(), "--help", "--version")
	default:
		path := []string{before[0]}
		if subs := subcommands(before[0]); len(subs) > 0 {
			if len(before) == 1 {
				if strings.HasPrefix(cur, "-") {
					out = []string{"--help"}
				} else {
					out = subs
				}
				break
			}
			path = append(path, before[1])
		}
		for _, w := range before {
			if w == "--" {
				return nil // the tool's own arguments
			}
		}
		flags, takesValue := commandFlags(path)
		if prev := before[len(before)-1]; takesValue[prev] && !strings.HasPrefix(cur, "-") {
			out = flagValues(prev)
			break
		}
		if strings.HasPrefix(cur, "-") {
			out = flags
		}
	}
	for _, w := range out {
		if strings.HasPrefix(w, cur) {
			fmt.Fprintln(std.out, w)
		}
	}
	return nil
}

// commandFlags reads the flags of the command at path from its --help.
func commandFlags(path []string) (flags []string, takesValue map[string]bool) {
	var out, errs bytes.Buffer
	if Main(append(append([]string{}, path...), "--help"), stdio{in: strings.NewReader(""), out: &out, err: &errs}) != 0 {
		return nil, nil
	}
	takesValue = map[string]bool{}
	helpFlag := regexp.MustCompile(`(?m)^  (--[a-z0-9-]+)( [A-Z[])?`) // here, not at every start
	for _, m := range helpFlag.FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
		if m[2] != "" && m[2] != " [" {
			takesValue[m[1]] = true
		}
	}
	return append(flags, "--help"), takesValue
}

const bashCompletion = `# bash completion for airlock: source <(airlock completion bash)
_airlock() {
  local IFS=$'\n'
  COMPREPLY=($(airlock __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _airlock airlock
`

const zshCompletion = `#compdef airlock
# zsh completion for airlock: source <(airlock completion zsh)
_airlock() {
  local -a words_after
  words_after=("${(@)words[2,CURRENT]}")
  local -a c
  c=("${(@f)$(airlock __complete "${(@)words_after}" 2>/dev/null)}")
  c=(${c:#})
  if (( ${#c} )); then
    compadd -- "${(@)c}"
  else
    _files
  fi
}
if (( $+functions[compdef] )); then
  compdef _airlock airlock
fi
`

const fishCompletion = `# fish completion for airlock: airlock completion fish | source
function __airlock_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    airlock __complete $words 2>/dev/null
end
complete -c airlock -a '(__airlock_complete)'
`
