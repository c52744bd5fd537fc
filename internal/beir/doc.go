// Package beir reads test collections in the BEIR layout and scores ranked
// runs against them the way trec_eval and pytrec_eval do, so that ragd's
// retrieval quality can be measured on public benchmarks and compared side
// by side with reference engines (Lucene, Xapian) on the same data.
//
// # Format
//
// A BEIR folder holds three files, all UTF-8:
//
//	corpus.jsonl     one JSON object per line:
//	                 {"_id": "d1", "title": "…", "text": "…", "metadata": {…}}
//	                 _id and text are required, title and metadata optional
//	queries.jsonl    one JSON object per line: {"_id": "q1", "text": "…"}
//	                 (other fields, such as BEIR's "metadata", are ignored)
//	qrels/test.tsv   a header line "query-id\tcorpus-id\tscore", then one
//	                 judgement per line: query id, document id and an integer
//	                 grade, tab separated (other splits: qrels/<split>.tsv)
//
// An _id may be a JSON string or an integer literal (kept as written). Blank
// lines are skipped and a UTF-8 byte-order mark on the first line is
// ignored. Lines may be up to MaxLineBytes long. Input is rejected, never
// repaired: bad JSON, a missing or empty _id, a missing text, an id repeated
// within a file, a qrels line without exactly three fields or with a
// non-integer grade, and a pair judged twice with different grades are each
// a *FormatError naming the file and the 1-based line (errors.Is(err,
// ErrFormat) holds). A pair judged twice with the same grade is accepted.
//
// Load reads a whole folder into a Dataset. ReadCorpus streams documents to
// a callback one at a time, for corpora that should not be held in memory.
//
// # Evaluation
//
// Evaluate scores a Run (query id → scored documents) against qrels with
// the definitions of ireval.py, the project's reference scorer (in the
// shared tools/ir folder), which agrees with trec_eval 10.0:
//
//   - The run's order is trec_eval's, not the caller's: by score
//     descending, ties broken by document id descending (byte order). Ranks
//     written in a file are ignored, as trec_eval ignores them.
//   - A document is relevant when its grade is ≥ 1; grades ≤ 0 count as
//     not relevant and give no gain.
//   - nDCG@10: gain = grade (linear), discount 1/log2(rank+1), ideal DCG
//     from the query's positive grades sorted descending, cut at 10.
//   - MAP@100: the sum of precision@k at each relevant document found at
//     rank k ≤ 100, divided by the number of relevant documents of the
//     query (all of them, not only those retrieved).
//   - Recall@100: relevant documents in the top 100 / relevant documents.
//   - MRR@10: 1/rank of the first relevant document within the top 10.
//
// Means are taken over the judged queries: every query with at least one
// qrels line, whatever its grades. A judged query absent from the run (or
// with no documents) scores 0 on every metric, like `trec_eval -c`; run
// queries without judgements are ignored.
//
// WriteTREC and ReadTREC write and read run files in the TREC format
// ("qid Q0 docid rank score tag" lines) that trec_eval, pytrec_eval and
// ireval.py read.
//
// # Concurrency
//
// The functions are safe for concurrent use. A Dataset or Run is plain data:
// concurrent reads are safe, writes need the caller's synchronisation.
package beir
