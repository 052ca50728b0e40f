"""``vad prompts``: print a prompt bank, list the shipped ones, or lint one
(``--check``: :func:`vad.scoring.promptlint.check_bank`)."""

from __future__ import annotations

import argparse


def add_prompts_parser(sub) -> None:
    """``vad prompts [BANK]``: print, list or lint prompt banks."""
    prompts = sub.add_parser("prompts", help="print a prompt bank")
    prompts.add_argument("bank", nargs="?", default="default", help="YAML file or shipped name")
    prompts.add_argument("--list", action="store_true", help="list the shipped banks")
    prompts.add_argument(
        "--check", action="store_true", help="lint the bank; exit 1 when a problem is found"
    )
    prompts.add_argument("--model", help="--check: count tokens with this model's tokenizer")
    prompts.add_argument(
        "--pretrained", help="--check: also load these weights for the embedding checks"
    )
    prompts.add_argument("--json", action="store_true", help="--check: print JSON")
    prompts.set_defaults(func=cmd_prompts)


def cmd_prompts(args: argparse.Namespace) -> int:
    from vad.model.prompts import PromptBank, available_banks

    if args.check:
        return cmd_prompts_check(args)
    if args.list:
        print("\n".join(available_banks()))
        return 0
    print(PromptBank.from_yaml(args.bank).to_text())
    return 0


def cmd_prompts_check(args: argparse.Namespace) -> int:
    """``vad prompts --check BANK``: exit 1 when the lint finds a problem."""
    import json

    from vad.config import load_config
    from vad.model.prompts import PromptBank, PromptBankError
    from vad.scoring.promptlint import check_bank, model_tokenizer, report_text

    model = args.model or load_config("default").get("model", "ViT-B-16")
    try:
        bank = PromptBank.from_yaml(args.bank)
    except PromptBankError as exc:
        report = {"bank": str(args.bank), "problems": [{"kind": "invalid", "detail": str(exc)}]}
        print(json.dumps(report) if args.json else f"vad: {exc}")
        return 1
    tokenizer, context, note = model_tokenizer(model)
    encode_text = None
    if args.pretrained is not None:  # the encoder checks need real weights
        from vad.model.encoder import ClipEncoder

        encode_text = ClipEncoder(model, args.pretrained, "auto", "auto").encode_text
    report = check_bank(bank, tokenizer, context, encode_text)
    report["model"] = model
    report["encoder_checks"] = encode_text is not None
    if note:
        report["note"] = note
    print(json.dumps(report, indent=1) if args.json else report_text(report))
    if note and not args.json:
        print(f"note: {note}")
    return 1 if report["problems"] else 0
