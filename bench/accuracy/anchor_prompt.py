#!/usr/bin/env python3
"""Re-wrap sql-eval's prompt file in another model family's chat template.

sql-eval's prompts/prompt.md is written in Llama 3's chat format (system turn, user turn, then an
assistant turn it pre-fills up to "```sql"), and its llama.cpp runner sends that text as a raw
completion. A Gemma or ChatML model would read Llama 3's header tokens as plain text, so this
script keeps the three parts of the file word for word and only swaps the turn markers:

    anchor_prompt.py TEMPLATE SRC DST      TEMPLATE: llama3 (unchanged) | gemma | chatml

The result is still a sql-eval prompt template ({user_question}, {table_metadata_string}, ...
are left for sql-eval's generate_prompt to fill). BOS is not written: llama.cpp adds it when the
model's tokenizer asks for it.
"""
import re
import sys

LLAMA3 = re.compile(
    r"\A<\|start_header_id\|>system<\|end_header_id\|>\n\n(?P<system>.*?)(?:<\|eot_id\|>)?"
    r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(?P<user>.*?)<\|eot_id\|>"
    r"<\|start_header_id\|>assistant<\|end_header_id\|>\n\n(?P<assistant>.*)\Z",
    re.S,
)


def convert(text: str, template: str) -> str:
    if template == "llama3":
        return text
    m = LLAMA3.match(text)
    if not m:
        raise SystemExit("anchor_prompt: the prompt file is not in the expected Llama 3 layout")
    system, user, assistant = m["system"].strip(), m["user"], m["assistant"]
    if template == "gemma":
        # Gemma 3's chat template has no system role: the system text opens the first user turn.
        return (f"<start_of_turn>user\n{system}\n\n{user.strip()}<end_of_turn>\n"
                f"<start_of_turn>model\n{assistant}")
    if template == "chatml":
        return (f"<|im_start|>system\n{system}<|im_end|>\n"
                f"<|im_start|>user\n{user.strip()}<|im_end|>\n"
                f"<|im_start|>assistant\n{assistant}")
    raise SystemExit(f"anchor_prompt: unknown template {template!r} (llama3, gemma, chatml)")


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    template, src, dst = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    with open(dst, "w", encoding="utf-8") as f:
        f.write(convert(text, template))


if __name__ == "__main__":
    main()
