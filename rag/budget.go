package rag

import "fmt"

// Chat framing, as OpenAI counts it for its chat models: each message costs
// its content, its role and perMessageTokens; the reply is primed with
// replyTokens. Other servers' chat templates differ by a few tokens.
const (
	perMessageTokens = 3
	replyTokens      = 3
)

// minPassageTokens is the least room for passage text worth sending: a
// budget that leaves less after the instructions, the question and a
// passage's quoting is an invalid argument rather than a prompt with a few
// words of one source.
const minPassageTokens = 16

// assembled is the prompt within its budget.
type assembled struct {
	system, user string
	passages     []Passage // numbered 1…n in prompt order
	tokens       int       // the prompt's tokens, framing included
	overBudget   int       // pieces left out for want of room
	truncated    bool      // the only passage was cut to fit
}

// countMessages counts a system and a user message with their framing.
func countMessages(tok tokenizer, system, user string) int {
	return 2*perMessageTokens + tok.Count("system") + tok.Count("user") + tok.Count(system) + tok.Count(user) + replyTokens
}

// assemble numbers and quotes pieces, best first, in a prompt of at most
// budget tokens counted by tok — the system message (of systemTokens
// tokens), the user message and the chat framing all counted. Pieces are
// whole: one that does not fit is left out and the smaller ones after it
// are tried. When not even the best one fits, it alone is given, cut at a
// token boundary, so that the context is never empty. Zero pieces give a
// prompt without sources.
//
// Each part of the user message is counted once (see sourcesHeader): the
// count is exact for the OpenAI tokenizers, and for TokenizerEstimate at
// most one token over per part, from rounding.
func assemble(tok tokenizer, system string, systemTokens int, question string, ps []piece, budget int) (assembled, error) {
	a := assembled{system: system}
	fixed := countMessages(tok, "", "") + systemTokens + tok.Count(sourcesHeader) + tok.Count(questionPrefix+neutralise(question))
	room := budget - fixed
	if len(ps) == 0 {
		a.user = userMessage(nil, question)
		a.tokens = fixed
		return a, nil
	}
	tooSmall := func(frame int) error {
		quoting := ""
		if frame > 0 {
			quoting = fmt.Sprintf(", quoting a passage %d more", frame)
		}
		return fmt.Errorf("%w: max_context_tokens %d leaves no room for passages: the instructions and the question take %d tokens%s (%s)",
			ErrInvalidArgument, budget, fixed, quoting, tok.Name())
	}
	if room < minPassageTokens {
		return a, tooSmall(0)
	}
	var sources []string
	used := 0
	for i := range ps {
		p := ps[i].Passage
		p.N = len(a.passages) + 1
		src := renderSource(p.N, &p)
		n := tok.Count(src + sourceSep)
		if used+n > room {
			a.overBudget++
			continue
		}
		used += n
		sources = append(sources, src)
		a.passages = append(a.passages, p)
	}
	if len(a.passages) == 0 {
		// Not even the best fits: cut it to the room left by its quoting.
		p := ps[0].Passage
		p.N, p.Truncated = 1, true
		text := p.Text
		p.Text = ""
		frame := tok.Count(renderSource(1, &p) + sourceSep)
		if room-frame < minPassageTokens {
			return a, tooSmall(frame)
		}
		// Quoting may add tokens (a neutralised "</source"), and a cut
		// may merge tokens differently: cut again until it fits.
		for want := room - frame; ; {
			p.Text = tok.Truncate(text, want)
			src := renderSource(1, &p)
			n := tok.Count(src + sourceSep)
			if n <= room {
				sources, used = []string{src}, n
				break
			}
			if want = want - (n - room); want < 1 {
				return a, tooSmall(frame)
			}
		}
		a.passages = []Passage{p}
		a.overBudget = len(ps) - 1
		a.truncated = true
	}
	a.user = userMessage(sources, question)
	a.tokens = fixed + used
	return a, nil
}
