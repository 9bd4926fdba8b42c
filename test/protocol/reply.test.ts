import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseReplies, formatReply, ProtocolError } from "../../src/protocol/index.js";

describe("parseReplies", () => {
  const rows: { title: string; input: string; replies: { code: number; lines: string[] }[]; rest: string }[] = [
    { title: "single line", input: "220 Ready\r\n", replies: [{ code: 220, lines: ["Ready"] }], rest: "" },
    { title: "bare LF tolerated", input: "200 OK\n", replies: [{ code: 200, lines: ["OK"] }], rest: "" },
    { title: "incomplete line kept as rest", input: "220 Rea", replies: [], rest: "220 Rea" },
    { title: "CR split from LF", input: "220 Ready\r", replies: [], rest: "220 Ready\r" },
    {
      title: "multi-line with foreign codes inside",
      input: "211-Features:\r\n MDTM\r\n226-not the end\r\n SIZE\r\n211 End\r\n",
      replies: [{ code: 211, lines: ["Features:", " MDTM", "226-not the end", " SIZE", "End"] }],
      rest: "",
    },
    {
      title: "multi-line with repeated code prefix",
      input: "220-Welcome\r\n220-to the server\r\n220 Ready\r\n",
      replies: [{ code: 220, lines: ["Welcome", "to the server", "Ready"] }],
      rest: "",
    },
    {
      title: "unfinished multi-line keeps its start as rest",
      input: "150 Opening\r\n211-Features:\r\n MDTM\r\n",
      replies: [{ code: 150, lines: ["Opening"] }],
      rest: "211-Features:\r\n MDTM\r\n",
    },
    {
      title: "two replies in one chunk",
      input: "150 Opening\r\n226 Done\r\n",
      replies: [{ code: 150, lines: ["Opening"] }, { code: 226, lines: ["Done"] }],
      rest: "",
    },
    { title: "empty text", input: "", replies: [], rest: "" },
  ];
  for (const row of rows) {
    it(row.title, () => {
      const got = parseReplies(row.input);
      assert.deepEqual(got.replies.map((r) => ({ code: r.code, lines: [...r.lines] })), row.replies);
      assert.equal(got.rest, row.rest);
    });
  }

  it("reassembles a reply cut at every position", () => {
    const text = "220-Hi\r\n there\r\n220 Ready\r\n331 Password please\r\n";
    for (let cut = 0; cut <= text.length; cut++) {
      const a = parseReplies(text.slice(0, cut));
      const b = parseReplies(a.rest + text.slice(cut));
      assert.deepEqual([...a.replies, ...b.replies].map((r) => r.code), [220, 331], `cut at ${cut}`);
      assert.equal(b.rest, "");
    }
  });

  it("rejects a line without a code", () => {
    assert.throws(() => parseReplies("hello world\r\n"), ProtocolError);
  });
});

describe("formatReply", () => {
  const rows: { title: string; code: number; text: string | string[]; expected: string }[] = [
    { title: "single", code: 200, text: "OK", expected: "200 OK\r\n" },
    { title: "multi", code: 211, text: ["Features:", " SIZE", "End"], expected: "211-Features:\r\n SIZE\r\n211 End\r\n" },
    { title: "digit-leading middle line is indented", code: 211, text: ["a", "226 x", "b"], expected: "211-a\r\n 226 x\r\n211 b\r\n" },
    { title: "CR/LF inside a line cannot split the reply", code: 550, text: "bad\rname", expected: "550 bad name\r\n" },
  ];
  for (const row of rows) {
    it(row.title, () => assert.equal(formatReply(row.code, row.text), row.expected));
  }
  it("round-trips through parseReplies", () => {
    const wire = formatReply(214, ["The following commands are recognized:", " USER PASS", "Help OK"]);
    const { replies } = parseReplies(wire);
    assert.deepEqual(replies[0]?.lines, ["The following commands are recognized:", " USER PASS", "Help OK"]);
  });
});
