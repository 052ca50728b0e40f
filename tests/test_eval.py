"""`vad eval` end to end on a tiny UCF-Crime-format set built from the sample videos, scored with
the tiny random model: metrics that match an independent recomputation from the written score
files, missing and undecodable videos, re-scoring from the embedding cache, the HTML report and
the ablation grid."""

from __future__ import annotations

import html
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from vad.cli import main
from vad.media.sampler import FrameSampler
from vad.pipeline import Detector

# name, class, intervals (0-based, inclusive); vtest decodes 795 frames, so 700..2000 runs past
# its end, as UCF's 30 fps annotations do on re-encoded copies.
ABUSE = "Abuse001_x264.avi"
NORMAL = "Normal_Videos_001_x264.avi"
ARSON = "Arson<b>&001_x264.avi"  # markup in a name: the report must escape it
ANNOTATIONS = f"""\
{ABUSE}  Abuse  300  400  700  2000
{NORMAL}  Normal  -1  -1  -1  -1
{ARSON}  Arson  100  180  -1  -1
"""
DECODED = {ABUSE: 795, NORMAL: 270, ARSON: 270}
# A small prompt bank keeps the text encoding (once per cache dir) fast.
BANK = """\
version: 1
name: tiny-test
templates: ["a surveillance camera frame of {action} {place}."]
global_templates: ["a surveillance camera frame of {action}."]
scene_templates: ["a surveillance camera view of {scene}."]
global:
  normal: ["people walking", "an empty scene"]
  anomalous: ["people fighting", "a building on fire"]
scenes:
  - name: street
    scene: a city street
    place: on a city street
    normal: ["a car driving normally"]
    anomalous: ["a car crash"]
  - name: store
    scene: a convenience store
    place: in a convenience store
    normal: ["a customer paying at the counter"]
    anomalous: ["a person jumping over the counter"]
"""


@pytest.fixture(scope="module")
def ucf_set(tmp_path_factory, videos_dir) -> Path:
    """UCF layout: class subfolders holding the videos (links to the samples)."""
    root = tmp_path_factory.mktemp("ucf")
    for sub, name, source in (
        ("Abuse", ABUSE, "vtest.avi"),
        ("Testing_Normal_Videos_Anomaly", NORMAL, "Megamind.avi"),
        ("Arson", ARSON, "Megamind_bugy.avi"),
    ):
        (root / "videos" / sub).mkdir(parents=True)
        (root / "videos" / sub / name).symlink_to(videos_dir / source)
    (root / "videos" / "Fighting").mkdir()  # unlisted in ANNOTATIONS; a damaged file
    (root / "videos" / "Fighting" / "Fighting002_x264.mp4").write_bytes(b"not a video" * 50)
    (root / "annotations.txt").write_text(ANNOTATIONS)
    (root / "bank.yaml").write_text(BANK)
    return root


@pytest.fixture(scope="module")
def eval_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-cache")


def eval_args(ucf_set: Path, out: Path, tiny_model: str, cache: Path, *extra: str) -> list[str]:
    return [
        "eval", "--dataset", "ucf-crime", "--annotations", str(ucf_set / "annotations.txt"),
        "--videos", str(ucf_set / "videos"), "--out", str(out), "--model", tiny_model,
        "--sample-fps", "1", "--event-threshold", "0", "--cache-dir", str(cache), "--window", "2",
        "--prompts", str(ucf_set / "bank.yaml"), *ORIGINAL_RECIPE, *extra,
    ]  # fmt: skip


# These tests are about evaluation mechanics; with random tiny weights the margin head's
# scores saturate, so they run the original scoring recipe (tests/test_heads.py covers heads).
ORIGINAL_RECIPE = ("--head", "softmax", "--no-anchor", "--refine", "none")


@pytest.fixture(scope="module")
def first_run(ucf_set, tiny_model, eval_cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval-out")
    assert main(eval_args(ucf_set, out, tiny_model, eval_cache)) == 0
    return out


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def recompute_from_score_files(annotations: Path, scores_dir: Path) -> tuple[float, float, int]:
    """AUC, AP and frame count from the score files alone, parsing the annotations here."""
    labels, scores = [], []
    for line in annotations.read_text().splitlines():
        name, _cls, *nums = line.split()
        stem = re.sub(r"[^A-Za-z0-9._#=+-]+", "_", Path(name).stem).strip("._")
        s = np.asarray(read_json(scores_dir / f"{stem}.json")["scores"], dtype=float)
        y = np.zeros(len(s), dtype=int)
        for start, end in zip(map(int, nums[0::2]), map(int, nums[1::2]), strict=True):
            if start >= 0:
                y[start : end + 1] = 1  # numpy clips a slice past the end
        labels.append(y)
        scores.append(s)
    y, s = np.concatenate(labels), np.concatenate(scores)
    return roc_auc_score(y, s), average_precision_score(y, s), len(y)


def test_auc_equals_recomputation_from_own_score_files(first_run, ucf_set):
    metrics = read_json(first_run / "metrics.json")
    roc, ap, frames = recompute_from_score_files(ucf_set / "annotations.txt", first_run / "scores")
    assert metrics["auc"] == pytest.approx(roc, abs=1e-12)
    assert metrics["ap"] == pytest.approx(ap, abs=1e-12)
    assert metrics["num_frames"] == frames == sum(DECODED.values())
    assert metrics["num_videos"] == 3
    assert set(metrics["per_class"]) == {"Abuse", "Arson"}
    assert metrics["missing"] == [] and metrics["failed"] == []
    abuse = next(v for v in metrics["videos"] if v["name"] == ABUSE)
    # 300..400 and 700..794: the second interval is clipped at the decoded length
    assert abuse["anomalous_frames"] == 101 + 95
    assert abuse["annotation_past_end"] is True
    assert abuse["intervals_past_end"] == 1
    assert metrics["intervals_past_end"] == {"videos": 1, "intervals": 1}
    assert metrics["protocol"]["name"] == "vad"
    assert metrics["annotation_warnings"] == []


def protocol_ground_truth(protocol: str, n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Each paper's ground truth for one video of n decoded frames, written out here."""
    y = np.zeros(n, dtype=int)
    for s, e in pairs:
        if protocol == "vad":
            y[s : e + 1] = 1
        elif protocol == "sultani":  # MATLAB GT(max(s,1):min(e,n)) = 1
            y[max(s, 1) - 1 : min(e, n)] = 1
        else:  # vadclip, xdviodet: gt[s:e] = 1
            y[s:e] = 1
    if protocol == "vadclip":
        y = y[: n // 16 * 16]
    if protocol == "xdviodet":
        y = y[:-1]
        y = y[: len(y) - len(y) % 16]
    return y


@pytest.mark.parametrize("protocol", ["vad", "sultani", "vadclip", "xdviodet"])
def test_protocol_metrics_equal_recomputation(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path, protocol
):
    out = tmp_path / protocol
    args = eval_args(ucf_set, out, tiny_model, eval_cache, "--no-report")
    assert main([*args, "--protocol", protocol]) == 0
    metrics = read_json(out / "metrics.json")
    assert metrics["protocol"]["name"] == protocol
    labels, scores = [], []
    for line in ANNOTATIONS.splitlines():
        name, _cls, *nums = line.split()
        stem = re.sub(r"[^A-Za-z0-9._#=+-]+", "_", Path(name).stem).strip("._")
        s = np.asarray(read_json(out / "scores" / f"{stem}.json")["scores"], dtype=float)
        numbers = list(map(int, nums))
        pairs = [(a, b) for a, b in zip(numbers[0::2], numbers[1::2], strict=True) if a >= 0]
        y = protocol_ground_truth(protocol, len(s), pairs)
        labels.append(y)
        scores.append(s[: len(y)])
    y, s = np.concatenate(labels), np.concatenate(scores)
    precision, recall, _ = precision_recall_curve(y, s)
    assert metrics["num_frames"] == len(y)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert metrics["ap_trapz"] == pytest.approx(auc(recall, precision), abs=1e-12)
    cut = {"vad": 795 + 270 + 270, "sultani": 1335, "vadclip": 784 + 256 + 256}
    cut["xdviodet"] = 784 + 256 + 256  # (795-1)//16*16, (270-1)//16*16
    assert metrics["num_frames"] == cut[protocol]


def test_names_without_suffix_warnings_and_past_end_lines(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path, capsys
):
    """A VadCLIP-style copy (no '.avi'), 'normal' in lower case: same metrics, one warning."""
    copy = tmp_path / "Temporal_Anomaly_Annotation.txt"
    text = ANNOTATIONS.replace(".avi", "").replace("Normal  -1", "normal  -1")
    copy.write_text(text)
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, eval_cache, "--no-report")
    args[args.index("--annotations") + 1] = str(copy)
    assert main(args) == 0
    err = capsys.readouterr().err
    metrics = read_json(tmp_path / "out" / "metrics.json")
    assert metrics["missing"] == [] and metrics["num_videos"] == 3
    assert metrics["auc"] == read_json(first_run / "metrics.json")["auc"]
    assert set(metrics["per_class"]) == {"Abuse", "Arson"}  # 'normal' is not a class
    warning = [line for line in err.splitlines() if "'normal'" in line]
    assert warning == [f"vad: warning: {copy}:2: class 'normal' read as 'Normal' (check its case)"]
    assert metrics["annotation_warnings"] == [warning[0].removeprefix("vad: warning: ")]
    past = [line for line in err.splitlines() if "after the last decoded frame" in line]
    assert len(past) == 1 and ABUSE in past[0] and "(700, 2000)" in past[0]
    args.append("--strict")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{copy}:2: class 'normal'" in err and "--strict" in err


def test_limit_keeps_normal_and_anomalous(ucf_set, tiny_model, eval_cache, tmp_path):
    anomalous_first = tmp_path / "ann.txt"
    lines = ANNOTATIONS.splitlines(keepends=True)
    anomalous_first.write_text(lines[0] + lines[2] + lines[1])  # Abuse, Arson, Normal
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, eval_cache, "--no-report")
    args[args.index("--annotations") + 1] = str(anomalous_first)
    assert main([*args, "--limit", "2"]) == 0
    metrics = read_json(tmp_path / "out" / "metrics.json")
    assert [v["name"] for v in metrics["videos"]] == [ABUSE, NORMAL]
    assert metrics["false_alarm_rate"] is not None


def test_single_file_report_embeds_its_figures(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path
):
    import base64

    out = tmp_path / "mail"
    args = eval_args(ucf_set, out, tiny_model, eval_cache, "--report-single-file")
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.html", "scores"]
    page = (out / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 3 + 3  # roc, pr, scores + one timeline per video
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        png = tmp_path / "figure.png"
        png.write_bytes(base64.b64decode(src.removeprefix("data:image/png;base64,")))
        width, height = png_size(png)
        assert width >= 400 and height >= 150
    metrics = read_json(out / "metrics.json")
    assert f"{metrics['ap_trapz']:.4f}" in page and f"{metrics['ap']:.4f}" in page


def test_score_files_are_what_vad_score_writes(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path
):
    out = tmp_path / "score"
    video = ucf_set / "videos" / "Abuse" / ABUSE
    args = ["score", str(video), "--out", str(out), "--model", tiny_model, "--sample-fps", "1"]
    args += ["--window", "2"]  # as eval_args
    args += ["--event-threshold", "0", "--prompts", str(ucf_set / "bank.yaml"), *ORIGINAL_RECIPE]
    assert main([*args, "--cache-dir", str(eval_cache)]) == 0
    from_score = read_json(out / "Abuse001_x264.json")
    from_eval = read_json(first_run / "scores" / "Abuse001_x264.json")
    assert from_eval == from_score
    assert (first_run / "scores" / "Abuse001_x264.csv").read_text() == (
        out / "Abuse001_x264.csv"
    ).read_text()


def test_missing_and_undecodable_videos_are_reported_and_excluded(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path, capsys
):
    annotations = tmp_path / "with-problems.txt"
    annotations.write_text(
        ANNOTATIONS
        + "Missing001_x264.mp4  Abuse  1  2  -1  -1\n"
        + "Fighting002_x264.mp4  Fighting  1  2  -1  -1\n"
    )
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, eval_cache)
    args[args.index("--annotations") + 1] = str(annotations)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Missing001_x264.mp4" in err and "Fighting002_x264.mp4" in err
    metrics = read_json(tmp_path / "out" / "metrics.json")
    assert [m["name"] for m in metrics["missing"]] == ["Missing001_x264.mp4"]
    assert [f["name"] for f in metrics["failed"]] == ["Fighting002_x264.mp4"]
    assert "Fighting002_x264.mp4" in metrics["failed"][0]["error"]
    assert metrics["num_videos"] == 3 and metrics["num_listed"] == 5
    assert "Fighting" not in metrics["per_class"]  # excluded, never scored as 0
    assert metrics["auc"] == read_json(first_run / "metrics.json")["auc"]
    assert not (tmp_path / "out" / "scores" / "Fighting002_x264.json").exists()


def test_new_context_rescores_from_cache_without_decoding_or_encoding(
    first_run, ucf_set, tiny_model, eval_cache, tmp_path, monkeypatch
):
    def forbidden(*args, **kwargs):
        raise AssertionError("decoded or encoded a video on a cached re-run")

    with monkeypatch.context() as m:
        m.setattr(Detector, "_encode_video", forbidden)
        m.setattr(FrameSampler, "open", forbidden)
        cached = tmp_path / "cached"
        assert main(eval_args(ucf_set, cached, tiny_model, eval_cache, "--context", "none")) == 0
    metrics = read_json(cached / "metrics.json")
    assert metrics["cache"] == {"hits": 3, "misses": 0}
    fresh = tmp_path / "fresh"
    args = eval_args(ucf_set, fresh, tiny_model, eval_cache, "--context", "none", "--no-cache")
    assert main(args) == 0
    for stem in ("Abuse001_x264", "Normal_Videos_001_x264", "Arson_b_001_x264"):
        a, b = (
            read_json(cached / "scores" / f"{stem}.json"),
            read_json(fresh / "scores" / f"{stem}.json"),
        )
        assert a["context"]["mode"] == "none"
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)
    assert metrics["auc"] == pytest.approx(read_json(fresh / "metrics.json")["auc"], abs=1e-4)
    # the context changed the scores: this was a re-scoring, not a copy of the first run
    first = read_json(first_run / "scores" / "Abuse001_x264.json")["scores"]
    assert first != read_json(cached / "scores" / "Abuse001_x264.json")["scores"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_report_shows_curves_timelines_and_events(first_run):
    page = (first_run / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert "figures/roc.png" in sources and "figures/pr.png" in sources
    timelines = [s for s in sources if s.startswith("figures/timeline-")]
    assert len(timelines) == 3  # one per scored video
    for src in sources:
        width, height = png_size(first_run / src)
        assert width >= 400 and height >= 150
    # a 3-video set and the tiny model's random weights: said first, in the report and the JSON
    cautions = read_json(first_run / "metrics.json")["cautions"]
    assert cautions[0].startswith("small test set: 3 videos, 2 anomalous")
    assert cautions[1].startswith("random model weights")
    caution = page.index("Read with care")
    assert caution < page.index("<h2>Result</h2>")
    assert html.escape(cautions[0]) in page[caution:]
    # names from the data are escaped, never markup
    assert "Arson&lt;b&gt;&amp;001_x264.avi" in page
    assert "<b>&001" not in page
    # the top events (threshold 0: every video is one event) show the descriptions that fired
    scored = read_json(first_run / "scores" / "Abuse001_x264.json")
    assert scored["events"], "threshold 0 should make an event"
    for desc in scored["events"][0]["descriptions"]:
        assert html.escape(desc["text"]) in page


def test_ablation_grid_from_one_encoding_pass(ucf_set, tiny_model, tmp_path, monkeypatch):
    calls = []
    encode = Detector._encode_video

    def counting(self, path):
        calls.append(Path(path).name)
        return encode(self, path)

    monkeypatch.setattr(Detector, "_encode_video", counting)
    out = tmp_path / "ablate"
    extra = ["--no-cache", "--ablate-contexts", "none", "auto", "--ablate-windows", "0", "2"]
    extra += ["--ablate-prompts", str(ucf_set / "bank.yaml"), "--limit", "2"]
    assert main(eval_args(ucf_set, out, tiny_model, tmp_path / "c", *extra)) == 0
    assert sorted(calls) == sorted([ABUSE, NORMAL])  # each video encoded once, for 4 configs
    rows = read_json(out / "ablation.json")
    assert [(r["context"], r["window_s"]) for r in rows] == [
        ("none", 0.0), ("none", 2.0), ("auto", 0.0), ("auto", 2.0)
    ]  # fmt: skip
    # the run's own settings (auto, 2 s, the same bank) reproduce the main metrics exactly
    own = [r for r in rows if r["this_run"]]
    assert len(own) == 1 and own[0]["auc"] == read_json(out / "metrics.json")["auc"]
    table = (out / "ablation.md").read_text()
    assert table.count("\n| ") == 1 + 4  # header + one line per config
    assert f"{100 * rows[0]['auc']:.2f}" in table


def test_ablation_covers_head_anchor_and_refinement(ucf_set, tiny_model, eval_cache, tmp_path):
    out = tmp_path / "ablate"
    grid = ["--ablate-heads", "softmax", "margin", "--ablate-anchors", "on", "off"]
    grid += ["--ablate-refines", "none", "--ablate-windows", "2", "--ablate-contexts", "none"]
    grid += ["--ablate-prompts", str(ucf_set / "bank.yaml")]
    assert main(eval_args(ucf_set, out, tiny_model, eval_cache, *grid)) == 0
    rows = read_json(out / "ablation.json")
    assert [(r["head"], r["anchor"], r["refine"]) for r in rows] == [
        ("softmax", "nova", "none"), ("softmax", "none", "none"),
        ("margin", "nova", "none"), ("margin", "none", "none"),
    ]  # fmt: skip
    table = (out / "ablation.md").read_text()
    assert "| head | anchor | motion gate | refine |" in table
    assert "| margin | none | off | none |" in table
    assert "<td>margin, no anchor, refine none</td>" in (out / "report.html").read_text()
    # the original-recipe row equals a separate run with those settings
    original = next(r for r in rows if r["head"] == "softmax" and r["anchor"] == "none")
    single = tmp_path / "single"
    args = eval_args(ucf_set, single, tiny_model, eval_cache, "--context", "none", "--no-report")
    assert main(args) == 0
    assert original["auc"] == read_json(single / "metrics.json")["auc"]


def test_ablation_row_equals_a_separate_run(ucf_set, tiny_model, eval_cache, tmp_path):
    out = tmp_path / "ablate"
    grid = ["--ablate-contexts", "auto", "none", "--ablate-windows", "2"]
    assert main(eval_args(ucf_set, out, tiny_model, eval_cache, *grid, "--no-report")) == 0
    none_row = next(r for r in read_json(out / "ablation.json") if r["context"] == "none")
    single = tmp_path / "single"
    args = eval_args(ucf_set, single, tiny_model, eval_cache, "--context", "none", "--no-report")
    assert main(args) == 0
    assert none_row["auc"] == read_json(single / "metrics.json")["auc"]
    assert not (single / "report.html").exists()


def test_limit_keeps_the_first_listed_videos(ucf_set, tiny_model, eval_cache, tmp_path):
    out = tmp_path / "out"
    assert main(eval_args(ucf_set, out, tiny_model, eval_cache, "--limit", "1", "--no-report")) == 0
    metrics = read_json(out / "metrics.json")
    assert [v["name"] for v in metrics["videos"]] == [ABUSE]
    assert sorted(p.name for p in (out / "scores").glob("*.json")) == ["Abuse001_x264.json"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--annotations", "nope.txt"), "nope.txt"),
        (("--videos", "no-such-dir"), "no-such-dir"),
        (("--limit", "0"), "--limit"),
        (("--ablate-prompts", "no-such-bank"), "no-such-bank"),
        (("--ablate-windows", "-1"), "window"),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(
    ucf_set, tiny_model, tmp_path, capsys, change, message
):
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, tmp_path / "c")
    flag, value = change
    if flag in args:
        args[args.index(flag) + 1] = str(tmp_path / value) if flag != "--limit" else value
    else:
        args += [flag, value]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_malformed_annotation_line_names_file_and_line(ucf_set, tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text(ANNOTATIONS + "Abuse009_x264.mp4 Abuse 10\n")
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, tmp_path / "c")
    args[args.index("--annotations") + 1] = str(bad)
    assert main(args) == 2
    assert f"{bad}:4" in capsys.readouterr().err


def test_unknown_dataset_is_a_usage_error(ucf_set, tiny_model, tmp_path):
    args = eval_args(ucf_set, tmp_path / "out", tiny_model, tmp_path / "c")
    args[args.index("--dataset") + 1] = "kinetics"
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


def test_shanghaitech_mask_padding_and_test_list(ucf_set, tiny_model, eval_cache, tmp_path):
    """A mask shorter than the video is padded with its last label (RTFM) or zeros; the test
    list decides which videos are evaluated and in which order."""
    videos, masks = tmp_path / "videos", tmp_path / "test_frame_mask"
    videos.mkdir()
    masks.mkdir()
    (videos / "01_0014.avi").symlink_to(ucf_set / "videos" / "Abuse" / ABUSE)  # 795 frames
    (videos / "05_003.avi").symlink_to(
        ucf_set / "videos" / "Testing_Normal_Videos_Anomaly" / NORMAL
    )
    mask = np.zeros(700, dtype=np.uint8)
    mask[600:] = 1  # anomalous up to the mask's end, 95 frames short of the video's
    np.save(masks / "01_0014.npy", mask)
    np.save(masks / "01_0099.npy", np.zeros(10, dtype=np.uint8))  # not in the list
    listed = tmp_path / "shanghai-i3d-test-10crop.list"
    listed.write_text("/features/05_003_i3d.npy\n/features/01_0014_i3d.npy\n")
    anomalous = {}
    for pad in ("last", "zero"):
        out = tmp_path / pad
        args = eval_args(ucf_set, out, tiny_model, eval_cache, "--no-report", "--mask-pad", pad)
        args[args.index("--dataset") + 1] = "shanghaitech"
        args[args.index("--annotations") + 1] = str(masks)
        args[args.index("--videos") + 1] = str(videos)
        assert main([*args, "--test-list", str(listed)]) == 0
        metrics = read_json(out / "metrics.json")
        assert [v["name"] for v in metrics["videos"]] == ["05_003.avi", "01_0014.avi"]
        assert [v["label"] for v in metrics["videos"]] == ["Normal", "Anomalous"]
        assert metrics["protocol"]["mask_pad"] == pad and metrics["test_list"] == str(listed)
        anomalous[pad] = metrics["videos"][1]["anomalous_frames"]
    assert anomalous == {"last": 100 + 95, "zero": 100}


def test_eval_help_documents_the_csv_format_and_protocols(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "video,start_frame,end_frame,label" in out and "fight01.mp4,10,50,Fighting" in out
    for flag in ("--protocol", "--mask-pad", "--test-list", "--strict", "--report-single-file"):
        assert flag in out
    for name in ("sultani", "vadclip", "xdviodet", "ap_trapz"):
        assert name in out
