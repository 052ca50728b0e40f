"""Tests for the dataset annotation readers (fixtures are written into tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vad.evaluation.datasets import (
    DATASETS,
    PROTOCOLS,
    AnnotationWarnings,
    VideoAnnotation,
    get_protocol,
    limit_balanced,
    load_annotations,
    split_present,
)
from vad.evaluation.datasets.base import intervals_from_mask
from vad.evaluation.datasets.xd_violence import xd_class_from_name


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def by_name(annotations: list[VideoAnnotation]) -> dict[str, VideoAnnotation]:
    return {a.name: a for a in annotations}


# --- VideoAnnotation / helpers -------------------------------------------------------------


def test_inclusive_end_convention():
    ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5)])
    labels = ann.frame_labels(10)
    assert labels.dtype == np.uint8
    assert np.flatnonzero(labels).tolist() == [3, 4, 5]


def test_frame_labels_clip_to_decoded_length():
    ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(2, 4), (6, 100), (50, 60)])
    labels = ann.frame_labels(8)
    assert labels.tolist() == [0, 0, 1, 1, 1, 0, 1, 1]
    assert ann.frame_labels(0).shape == (0,)


def test_frame_labels_rejects_negative_length():
    ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(0, 1)])
    with pytest.raises(ValueError, match="a.mp4"):
        ann.frame_labels(-1)


def test_invalid_interval_rejected():
    with pytest.raises(ValueError, match="a.mp4"):
        VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(5, 3)])


def test_mask_truncated_and_padded_with_last_label_or_zeros():
    mask = np.array([0, 1, 1, 0, 1], dtype=np.uint8)
    ann = VideoAnnotation("s.mp4", Path("s.mp4"), "Anomalous", [], mask)
    assert ann.frame_labels(3).tolist() == [0, 1, 1]
    assert ann.frame_labels(7).tolist() == [0, 1, 1, 0, 1, 1, 1]  # RTFM: repeat the last label
    zero = get_protocol("vad", mask_pad="zero")
    assert ann.frame_labels(7, zero).tolist() == [0, 1, 1, 0, 1, 0, 0]
    ends_normal = VideoAnnotation("t.mp4", Path("t.mp4"), "Anomalous", [], mask[:4])
    assert ends_normal.frame_labels(6).tolist() == [0, 1, 1, 0, 0, 0]


def test_intervals_from_mask():
    assert intervals_from_mask(np.array([1, 1, 0, 0, 1])) == [(0, 1), (4, 4)]
    assert intervals_from_mask(np.zeros(4)) == []


def test_split_present(tmp_path):
    here = touch(tmp_path / "here.mp4")
    anns = [
        VideoAnnotation("here.mp4", here, "Normal"),
        VideoAnnotation("gone.mp4", tmp_path / "gone.mp4", "Abuse", [(0, 1)]),
    ]
    present, missing = split_present(anns)
    assert [a.name for a in present] == ["here.mp4"]
    assert [a.name for a in missing] == ["gone.mp4"]


# --- registry ------------------------------------------------------------------------------


def test_registry_names():
    assert set(DATASETS) == {"ucf-crime", "xd-violence", "shanghaitech", "csv"}


def test_unknown_dataset_lists_known(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'kinetics'") as err:
        load_annotations("kinetics", tmp_path / "a.txt", tmp_path)
    for known in DATASETS:
        assert known in str(err.value)


# --- UCF-Crime -----------------------------------------------------------------------------

UCF_TEXT = """\
Arson011_x264.mp4  Arson  150  420  680  1267
Abuse028_x264.mp4  Abuse  165  240  -1  -1
Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1

Burglary005_x264.mp4  Burglary  5000  6000  -1  -1
"""


@pytest.fixture
def ucf(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "Arson011_x264.mp4")  # directly in videos_dir
    touch(videos / "Abuse" / "Abuse028_x264.mp4")  # class subfolder
    touch(videos / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4")
    # Burglary005 is listed but missing on disk.
    ann = write(tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", UCF_TEXT)
    return ann, videos


def test_ucf_reads_intervals_and_labels(ucf):
    anns = load_annotations("ucf-crime", *ucf)
    assert [a.name for a in anns] == [
        "Arson011_x264.mp4",
        "Abuse028_x264.mp4",
        "Normal_Videos_003_x264.mp4",
        "Burglary005_x264.mp4",
    ]
    a = by_name(anns)
    assert a["Arson011_x264.mp4"].intervals == [(150, 420), (680, 1267)]
    assert a["Arson011_x264.mp4"].label == "Arson"
    assert a["Abuse028_x264.mp4"].intervals == [(165, 240)]
    assert a["Normal_Videos_003_x264.mp4"].label == "Normal"
    assert a["Normal_Videos_003_x264.mp4"].intervals == []
    assert not a["Normal_Videos_003_x264.mp4"].is_anomalous


def test_ucf_resolves_class_subfolders(ucf):
    _, videos = ucf
    a = by_name(load_annotations("ucf-crime", *ucf))
    assert a["Arson011_x264.mp4"].path == videos / "Arson011_x264.mp4"
    assert a["Abuse028_x264.mp4"].path == videos / "Abuse" / "Abuse028_x264.mp4"
    assert a["Normal_Videos_003_x264.mp4"].path.exists()


def test_ucf_missing_video_reported(ucf):
    present, missing = split_present(load_annotations("ucf-crime", *ucf))
    assert [m.name for m in missing] == ["Burglary005_x264.mp4"]
    assert len(present) == 3


def test_ucf_clipping_past_decoded_length(ucf):
    a = by_name(load_annotations("ucf-crime", *ucf))
    labels = a["Arson011_x264.mp4"].frame_labels(700)
    assert len(labels) == 700
    assert labels[150:421].all() and labels[680:].all()
    assert labels.sum() == (420 - 150 + 1) + (700 - 680)


def test_ucf_prefers_direct_child_over_subfolder(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "deep" / "x.mp4")
    touch(videos / "x.mp4")
    ann = write(tmp_path / "a.txt", "x.mp4 Abuse 0 1 -1 -1\n")
    assert load_annotations("ucf-crime", ann, videos)[0].path == videos / "x.mp4"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("Abuse001_x264.mp4 Abuse 1 2 -1\n", "expected 6 fields"),
        ("Abuse001_x264.mp4 Abuse 1 x -1 -1\n", "integer"),
        ("Abuse001_x264.mp4 Abuse 9 2 -1 -1\n", "invalid interval"),
        ("Abuse001_x264.mp4 Abuse 3 -1 -1 -1\n", "invalid interval"),
        ("Normal_Videos_1.mp4 Normal 1 2 -1 -1\n", "Normal but has intervals"),
    ],
)
def test_ucf_malformed_lines(tmp_path, line, problem):
    ann = write(tmp_path / "ucf.txt", "Abuse002_x264.mp4 Abuse 1 2 -1 -1\n" + line)
    with pytest.raises(ValueError, match=problem) as err:
        load_annotations("ucf-crime", ann, tmp_path)
    assert f"{ann}:2" in str(err.value)


def test_ucf_duplicate_video(tmp_path):
    ann = write(tmp_path / "ucf.txt", "a.mp4 Abuse 1 2 -1 -1\na.mp4 Abuse 4 5 -1 -1\n")
    with pytest.raises(ValueError, match=r"ucf.txt:2.*line 1"):
        load_annotations("ucf-crime", ann, tmp_path)


def test_missing_annotation_file(tmp_path):
    for name in ("ucf-crime", "xd-violence", "csv"):
        with pytest.raises(FileNotFoundError, match="nope.txt"):
            load_annotations(name, tmp_path / "nope.txt", tmp_path)
    with pytest.raises(FileNotFoundError, match="masks"):
        load_annotations("shanghaitech", tmp_path / "masks", tmp_path)


def test_missing_videos_dir(tmp_path):
    ann = write(tmp_path / "ucf.txt", "a.mp4 Abuse 1 2 -1 -1\n")
    with pytest.raises(FileNotFoundError, match="no_videos"):
        load_annotations("ucf-crime", ann, tmp_path / "no_videos")


# --- XD-Violence ---------------------------------------------------------------------------

XD_FIGHT = "v=abc123__#1_label_B1-0-0"
XD_MOVIE = "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_B2-G-0"
XD_BLAST = "Bad.Boys.1995__#01-11-55_01-19-05_label_G-B2-B6"
XD_NORMAL = "v=zzz999__#0_label_A"


@pytest.fixture
def xd(tmp_path):
    videos = tmp_path / "videos"
    for stem in (XD_FIGHT, XD_MOVIE, XD_NORMAL, "Another.Film__#2_label_A"):
        touch(videos / f"{stem}.mp4")
    text = f"{XD_FIGHT} 0 52 120 300 400 410\n{XD_MOVIE}.mp4 10 80\n\n{XD_BLAST} 5 9\n"
    return write(tmp_path / "annotations.txt", text), videos


def test_xd_reads_names_with_punctuation(xd):
    _, videos = xd
    a = by_name(load_annotations("xd-violence", *xd))
    fight = a[f"{XD_FIGHT}.mp4"]
    assert fight.intervals == [(0, 52), (120, 300), (400, 410)]
    assert fight.label == "Fighting"
    assert fight.path == videos / f"{XD_FIGHT}.mp4"
    assert fight.path.exists()
    movie = a[f"{XD_MOVIE}.mp4"]  # ".mp4" not doubled although the name has dots
    assert movie.intervals == [(10, 80)] and movie.label == "Shooting"
    assert a[f"{XD_BLAST}.mp4"].label == "Explosion"


def test_xd_adds_normal_videos_from_folder(xd):
    anns = load_annotations("xd-violence", *xd)
    normals = [a for a in anns if a.label == "Normal"]
    assert sorted(a.name for a in normals) == sorted(
        [f"{XD_NORMAL}.mp4", "Another.Film__#2_label_A.mp4"]
    )
    assert all(a.intervals == [] and a.path.exists() for a in normals)
    assert len(anns) == 5
    _, missing = split_present(anns)
    assert [m.name for m in missing] == [f"{XD_BLAST}.mp4"]


def test_xd_odd_number_of_frames(tmp_path):
    ann = write(tmp_path / "annotations.txt", f"{XD_FIGHT} 0 52\n{XD_MOVIE} 1 2 3\n")
    with pytest.raises(ValueError, match="odd") as err:
        load_annotations("xd-violence", ann, tmp_path)
    assert f"{ann}:2" in str(err.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"{XD_FIGHT} 0 x\n", "integer"),
        (f"{XD_FIGHT} 10 2\n", "invalid interval"),
        ("v=q__#1_label_B3-0-0 1 2\n", "unknown label code"),
        (f"{XD_NORMAL} 1 2\n", "normal"),
    ],
)
def test_xd_malformed_lines(tmp_path, line, problem):
    ann = write(tmp_path / "annotations.txt", line)
    with pytest.raises(ValueError, match=problem) as err:
        load_annotations("xd-violence", ann, tmp_path)
    assert f"{ann}:1" in str(err.value)


def test_xd_violent_video_missing_from_file(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / f"{XD_FIGHT}.mp4")
    ann = write(tmp_path / "annotations.txt", "")
    with pytest.raises(ValueError, match="no line in"):
        load_annotations("xd-violence", ann, videos)


def test_xd_duplicate_with_and_without_suffix(tmp_path):
    ann = write(tmp_path / "annotations.txt", f"{XD_FIGHT} 0 1\n{XD_FIGHT}.mp4 4 5\n")
    with pytest.raises(ValueError, match="already listed"):
        load_annotations("xd-violence", ann, tmp_path)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("x_label_A.mp4", "Normal"),
        ("x_label_B1-B2-0", "Fighting"),
        ("x_label_0-B4-0", "Riot"),
        ("x_label_B5-0-0", "Abuse"),
        ("x_label_B6-0-0", "Car accident"),
        ("x_label_G-0-0", "Explosion"),
        ("no_code_here", None),
    ],
)
def test_xd_class_codes(name, label):
    assert xd_class_from_name(name) == label


# --- ShanghaiTech --------------------------------------------------------------------------


@pytest.fixture
def sht(tmp_path):
    masks, videos = tmp_path / "test_frame_mask", tmp_path / "videos"
    masks.mkdir()
    np.save(masks / "01_0014.npy", np.array([0, 0, 1, 1, 1, 0], dtype=np.int64))
    np.save(masks / "01_0015.npy", np.zeros(4, dtype=np.int64))
    np.save(masks / "02_0001.npy", np.array([1, 0], dtype=bool))
    touch(videos / "01_0014.avi")
    touch(videos / "01_0015.mp4")
    touch(videos / "99_0001.mp4")  # no mask: not part of the test set
    return masks, videos


def test_shanghaitech_reads_masks(sht):
    masks, videos = sht
    anns = load_annotations("shanghaitech", masks, videos)
    assert [a.name for a in anns] == ["01_0014.avi", "01_0015.mp4", "02_0001.mp4"]
    a = by_name(anns)
    assert a["01_0014.avi"].label == "Anomalous"
    assert a["01_0014.avi"].intervals == [(2, 4)]
    assert a["01_0014.avi"].path == videos / "01_0014.avi"
    assert a["01_0015.mp4"].label == "Normal"
    _, missing = split_present(anns)
    assert [m.name for m in missing] == ["02_0001.mp4"]


def test_shanghaitech_mask_shorter_and_longer_than_decoded(sht):
    a = by_name(load_annotations("shanghaitech", *sht))
    ann = a["01_0014.avi"]
    assert ann.frame_labels(4).tolist() == [0, 0, 1, 1]  # mask longer: truncated
    assert ann.frame_labels(9).tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0]  # shorter: padded, last 0


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.zeros((3, 4, 4)), "1-D"),
        (np.array([0, 2, 1]), "0 or 1"),
    ],
)
def test_shanghaitech_bad_mask(tmp_path, array, problem):
    masks = tmp_path / "masks"
    masks.mkdir()
    np.save(masks / "01_0001.npy", array)
    with pytest.raises(ValueError, match=problem) as err:
        load_annotations("shanghaitech", masks, tmp_path)
    assert "01_0001.npy" in str(err.value)


def test_shanghaitech_rejects_pickled_and_corrupt(tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    np.save(masks / "01_0001.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="01_0001.npy"):
        load_annotations("shanghaitech", masks, tmp_path)
    (masks / "01_0001.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="01_0001.npy"):
        load_annotations("shanghaitech", masks, tmp_path)


def test_shanghaitech_empty_mask_folder(tmp_path):
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="no .npy"):
        load_annotations("shanghaitech", tmp_path / "masks", tmp_path)


# --- CSV -----------------------------------------------------------------------------------


@pytest.fixture
def csv_dataset(tmp_path):
    videos = tmp_path / "videos"
    for name in ("fight01.mp4", "calm.mp4", "quiet.avi", "robbery.mkv"):
        touch(videos / name)
    touch(videos / "street" / "theft.mp4")
    text = (
        "video,start_frame,end_frame\n"
        "fight01.mp4,10,50\n"
        "robbery,0,3\n"
        "fight01.mp4,90,120\n"
        "street/theft.mp4,5,5\n"
        "\n"
        "gone.mp4,1,2\n"
    )
    return write(tmp_path / "ann.csv", text), videos


def test_csv_multiple_rows_and_normal_videos(csv_dataset):
    _, videos = csv_dataset
    anns = load_annotations("csv", *csv_dataset)
    assert [a.name for a in anns] == [
        "fight01.mp4",
        "robbery.mkv",
        "theft.mp4",
        "gone.mp4",
        "calm.mp4",
        "quiet.avi",
    ]
    a = by_name(anns)
    assert a["fight01.mp4"].intervals == [(10, 50), (90, 120)]
    assert a["fight01.mp4"].label == "Anomalous"
    assert a["robbery.mkv"].path == videos / "robbery.mkv"  # matched by stem
    assert a["theft.mp4"].path == videos / "street" / "theft.mp4"
    assert a["calm.mp4"].label == "Normal" and a["calm.mp4"].intervals == []
    _, missing = split_present(anns)
    assert [m.name for m in missing] == ["gone.mp4"]


def test_csv_label_column(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "a.mp4")
    touch(videos / "b.mp4")
    text = "Video, Start_Frame, End_Frame, Label\na.mp4,1,2,Fighting\na.mp4,5,6,\nb.mp4,,,Normal\n"
    a = by_name(load_annotations("csv", write(tmp_path / "x.csv", text), videos))
    assert a["a.mp4"].label == "Fighting" and a["a.mp4"].intervals == [(1, 2), (5, 6)]
    assert a["b.mp4"].label == "Normal" and a["b.mp4"].intervals == []


@pytest.mark.parametrize(
    ("body", "problem", "line"),
    [
        ("a.mp4,1,2\na.mp4,1\n", "expected 3 columns", 3),
        ("a.mp4,1,2\na.mp4,x,4\n", "start_frame must be an integer", 3),
        ("a.mp4,7,2\n", "invalid interval", 2),
        ("a.mp4,1,\n", "both be set", 2),
        (",1,2\n", "empty video name", 2),
    ],
)
def test_csv_malformed_rows(tmp_path, body, problem, line):
    ann = write(tmp_path / "x.csv", "video,start_frame,end_frame\n" + body)
    with pytest.raises(ValueError, match=problem) as err:
        load_annotations("csv", ann, tmp_path)
    assert f"{ann}:{line}" in str(err.value)


def test_csv_bad_header_and_empty(tmp_path):
    ann = write(tmp_path / "x.csv", "a.mp4,1,2\n")
    with pytest.raises(ValueError, match=r"x.csv:1: expected header"):
        load_annotations("csv", ann, tmp_path)
    write(ann, "")
    with pytest.raises(ValueError, match="empty file"):
        load_annotations("csv", ann, tmp_path)


def test_csv_conflicting_labels(tmp_path):
    text = "video,start_frame,end_frame,label\na.mp4,1,2,Fighting\na.mp4,5,6,Riot\n"
    ann = write(tmp_path / "x.csv", text)
    with pytest.raises(ValueError, match=r"x.csv:3.*conflicts.*line 2"):
        load_annotations("csv", ann, tmp_path)


def test_csv_normal_label_with_interval(tmp_path):
    ann = write(tmp_path / "x.csv", "video,start_frame,end_frame,label\na.mp4,1,2,Normal\n")
    with pytest.raises(ValueError, match=r"x.csv:2.*Normal but has intervals"):
        load_annotations("csv", ann, tmp_path)


# --- protocols -----------------------------------------------------------------------------

# One 32-frame video annotated "3 5" and "14 20", worked out by hand for every protocol.
PROTOCOL_CASES = {
    # 0-based, end included, all 32 frames
    "vad": (32, [3, 4, 5, 14, 15, 16, 17, 18, 19, 20]),
    # 1-based, end included: frame k of the file is decoded frame k-1
    "sultani": (32, [2, 3, 4, 13, 14, 15, 16, 17, 18, 19]),
    # gt[3:5] and gt[14:20]; 32 frames are two whole 16-frame snippets
    "vadclip": (32, [3, 4, 14, 15, 16, 17, 18, 19]),
    # gt[s:e], last frame dropped (31 left), cut to whole snippets: 16 frames
    "xdviodet": (16, [3, 4, 14, 15]),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_CASES))
def test_protocol_hand_computed(name):
    ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5), (14, 20)])
    length, ones = PROTOCOL_CASES[name]
    labels = ann.frame_labels(32, PROTOCOLS[name])
    assert len(labels) == length
    assert np.flatnonzero(labels).tolist() == ones


def test_protocol_snippet_cut_and_last_frame():
    # 40 decoded frames: vadclip keeps 2 snippets (32), xdviodet (40-1) // 16 * 16 = 32;
    # 33 frames: both 32; 32 frames: xdviodet drops one, so only one snippet is left
    assert [PROTOCOLS["vadclip"].kept_frames(n) for n in (40, 33, 32, 15)] == [32, 32, 32, 0]
    assert [PROTOCOLS["xdviodet"].kept_frames(n) for n in (40, 33, 32, 15)] == [32, 32, 16, 0]
    assert [PROTOCOLS["sultani"].kept_frames(n) for n in (40, 33, 32, 15)] == [40, 33, 32, 15]


def test_interval_past_end_depends_on_the_protocol():
    ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5), (30, 32)])
    assert ann.intervals_past_end(32, PROTOCOLS["vad"]) == [(30, 32)]  # frame 32 does not exist
    assert ann.intervals_past_end(32, PROTOCOLS["vadclip"]) == []  # gt[30:32] fits
    assert ann.intervals_past_end(32, PROTOCOLS["sultani"]) == []  # 1-based 32 = frame 31
    assert ann.intervals_past_end(40) == []


def test_unknown_protocol_and_mask_pad():
    with pytest.raises(ValueError, match="known: vad, sultani, vadclip, xdviodet"):
        get_protocol("lavad")
    with pytest.raises(ValueError, match="last, zero"):
        get_protocol("vad", mask_pad="edge")


# --- matching by stem ----------------------------------------------------------------------


def test_ucf_names_without_suffix_match_by_stem(tmp_path):
    """VadCLIP's copy of the annotation file lists 'Abuse028_x264' without '.mp4'."""
    videos = tmp_path / "videos"
    touch(videos / "Abuse" / "Abuse028_x264.mp4")
    touch(videos / "Normal_Videos_003_x264.avi")
    text = (
        "Abuse028_x264  Abuse  165  240  -1  -1  \n"
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  \n"  # listed .mp4, on disk .avi
        "Arson011_x264  Arson  150  420  680  1267  \n"
    )
    anns = load_annotations("ucf-crime", write(tmp_path / "ann.txt", text), videos)
    assert [a.path for a in anns[:2]] == [
        videos / "Abuse" / "Abuse028_x264.mp4",
        videos / "Normal_Videos_003_x264.avi",
    ]
    assert [a.name for a in anns[:2]] == ["Abuse028_x264.mp4", "Normal_Videos_003_x264.avi"]
    _, missing = split_present(anns)
    assert [m.name for m in missing] == ["Arson011_x264"]


def test_ucf_same_video_with_and_without_suffix_is_a_duplicate(tmp_path):
    text = "Abuse028_x264  Abuse  1  2  -1  -1\nAbuse028_x264.mp4  Abuse  1  2  -1  -1\n"
    ann = write(tmp_path / "ann.txt", text)
    with pytest.raises(ValueError, match=f"{ann}:2.*already listed on line 1"):
        load_annotations("ucf-crime", ann, tmp_path)


def test_ucf_stem_matching_two_suffixes_is_ambiguous(tmp_path):
    touch(tmp_path / "v" / "Abuse028_x264.mp4")
    touch(tmp_path / "v" / "Abuse028_x264.avi")
    ann = write(tmp_path / "ann.txt", "Abuse028_x264  Abuse  1  2  -1  -1\n")
    with pytest.raises(ValueError, match=f"{ann}:1.*several videos"):
        load_annotations("ucf-crime", ann, tmp_path / "v")


def test_xd_matches_any_video_suffix(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "v=abc__#1_label_B1-0-0.mkv")
    touch(videos / "Movie.2001__#00-01_label_A.avi")  # a normal video, not .mp4
    ann = write(tmp_path / "annotations.txt", "v=abc__#1_label_B1-0-0.mp4 3 9\n")
    a = by_name(load_annotations("xd-violence", ann, videos))
    assert a["v=abc__#1_label_B1-0-0.mkv"].intervals == [(3, 9)]
    assert a["Movie.2001__#00-01_label_A.avi"].label == "Normal"


def test_csv_name_with_other_suffix_matches_by_stem(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "fight.mkv")
    touch(videos / "street" / "theft.avi")
    text = "video,start_frame,end_frame\nfight.mp4,1,2\nstreet/theft,3,4\n"
    anns = load_annotations("csv", write(tmp_path / "a.csv", text), videos)
    assert [a.path for a in anns] == [videos / "fight.mkv", videos / "street" / "theft.avi"]


# --- suspicious lines, --strict, encodings -------------------------------------------------

SUSPICIOUS_UCF = """\
Abuse028_x264.mp4  Abuse  165  240  -1  -1
Kidnapping001_x264.mp4  Kidnapping  10  20  -1  -1
Normal_Videos_003_x264.mp4  normal  -1  -1  -1  -1
Arson011_x264.mp4  Arson  -1  -1  -1  -1
"""


def test_suspicious_ucf_lines_warn_one_line_each(tmp_path):
    ann = write(tmp_path / "ann.txt", SUSPICIOUS_UCF)
    warnings = AnnotationWarnings()
    a = by_name(load_annotations("ucf-crime", ann, tmp_path, warnings))
    assert len(warnings.lines) == 3
    kidnap, normal, arson = warnings.lines
    assert kidnap.startswith(f"{ann}:2: ") and "unknown class 'Kidnapping'" in kidnap
    assert normal.startswith(f"{ann}:3: ") and "'normal'" in normal
    assert arson.startswith(f"{ann}:4: ") and "no interval" in arson
    # 'normal' is read as Normal: it must not become an anomalous class of its own
    assert a["Normal_Videos_003_x264.mp4"].label == "Normal"
    assert not a["Normal_Videos_003_x264.mp4"].is_anomalous
    assert a["Kidnapping001_x264.mp4"].label == "Kidnapping"


@pytest.mark.parametrize("line", [2, 3, 4])
def test_strict_makes_the_first_suspicious_line_an_error(tmp_path, line):
    lines = SUSPICIOUS_UCF.splitlines(keepends=True)
    ann = write(tmp_path / "ann.txt", lines[0] + lines[line - 1])
    with pytest.raises(ValueError, match=f"{ann}:2: .*--strict"):
        load_annotations("ucf-crime", ann, tmp_path, AnnotationWarnings(strict=True))


def test_xd_and_csv_suspicious_lines(tmp_path):
    xd = write(tmp_path / "annotations.txt", "v=a__#1_label_B2-0-0\n")
    warnings = AnnotationWarnings()
    load_annotations("xd-violence", xd, tmp_path, warnings)
    assert warnings.lines == [
        f"{xd}:1: violent video 'v=a__#1_label_B2-0-0' (Shooting) has no interval"
    ]
    text = "video,start_frame,end_frame,label\na.mp4,,,NORMAL\nb.mp4,,,Riot\n"
    csv_file = write(tmp_path / "a.csv", text)
    warnings = AnnotationWarnings()
    a = by_name(load_annotations("csv", csv_file, tmp_path, warnings))
    assert a["a.mp4"].label == "Normal" and a["b.mp4"].label == "Riot"
    assert [w.split(": ")[0] for w in warnings.lines] == [f"{csv_file}:2", f"{csv_file}:3"]


@pytest.mark.parametrize(
    ("dataset", "good"),
    [
        ("ucf-crime", "Abuse028_x264.mp4  Abuse  1  2  -1  -1\n"),
        ("xd-violence", "v=a__#1_label_B1-0-0 1 2\n"),
        ("csv", "video,start_frame,end_frame\na.mp4,1,2\n"),
    ],
)
def test_non_utf8_annotation_file_names_file_and_line(tmp_path, dataset, good):
    ann = tmp_path / "ann.txt"
    ann.write_bytes(good.encode() + "Caf\xe9_001.mp4  Abuse  1  2  -1  -1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8") as err:
        load_annotations(dataset, ann, tmp_path)
    assert f"{ann}:{good.count(chr(10)) + 1}:" in str(err.value)


# --- --limit keeps both kinds --------------------------------------------------------------


def test_limit_keeps_normal_and_anomalous_in_proportion(tmp_path):
    """XD-Violence lists its violent videos first; the first N lines would all be violent."""
    anns = [VideoAnnotation(f"v{i}_label_B1", tmp_path / "x", "Fighting") for i in range(5)]
    anns += [VideoAnnotation(f"n{i}_label_A", tmp_path / "x", "Normal") for i in range(3)]
    picked = limit_balanced(anns, 4)
    assert [a.name for a in picked] == ["v0_label_B1", "v1_label_B1", "v2_label_B1", "n0_label_A"]
    picked = limit_balanced(anns, 2)  # 2 * 3/8 rounds to 1 normal, and at least one anyway
    assert [a.is_anomalous for a in picked] == [True, False]
    assert [a.name for a in limit_balanced(anns, 1)] == ["v0_label_B1"]
    assert limit_balanced(anns, 100) == anns
    only_violent = anns[:5]
    assert len(limit_balanced(only_violent, 3)) == 3


# --- ShanghaiTech test list ----------------------------------------------------------------


def test_shanghaitech_test_list_defines_the_test_set(sht, tmp_path):
    masks, videos = sht
    touch(videos / "05_003.avi")  # an original training video: in the 199 list, no mask
    listed = write(
        tmp_path / "shanghai-test.list",
        "/data/SH_Test_ten_crop_i3d/01_0014_i3d.npy\n# a comment\n05_003\n01_0015.mp4\n",
    )
    anns = load_annotations("shanghaitech", masks, videos, test_list=listed)
    assert [a.name for a in anns] == ["01_0014.avi", "05_003.avi", "01_0015.mp4"]
    assert [a.label for a in anns] == ["Anomalous", "Normal", "Normal"]
    assert anns[1].frame_labels(5).tolist() == [0] * 5


def test_test_list_restricts_other_datasets_and_names_bad_lines(ucf, tmp_path):
    listed = write(tmp_path / "test.list", "Abuse028_x264\nArson011_x264.mp4\n")
    anns = load_annotations("ucf-crime", *ucf, test_list=listed)
    assert [a.name for a in anns] == ["Abuse028_x264.mp4", "Arson011_x264.mp4"]
    write(listed, "Abuse028_x264\nNope001_x264\n")
    with pytest.raises(ValueError, match=f"{listed}:2: 'Nope001_x264' has no annotation"):
        load_annotations("ucf-crime", *ucf, test_list=listed)
    write(listed, "Abuse028_x264\nAbuse028_x264.mp4\n")
    with pytest.raises(ValueError, match=f"{listed}:2: .*already listed on line 1"):
        load_annotations("ucf-crime", *ucf, test_list=listed)


def test_ucf_exact_name_wins_over_a_shallower_stem_match(tmp_path):
    touch(tmp_path / "v" / "Abuse028_x264.avi")
    touch(tmp_path / "v" / "Abuse" / "Abuse028_x264.mp4")
    ann = write(tmp_path / "ann.txt", "Abuse028_x264.mp4  Abuse  1  2  -1  -1\n")
    (a,) = load_annotations("ucf-crime", ann, tmp_path / "v")
    assert a.path == tmp_path / "v" / "Abuse" / "Abuse028_x264.mp4"
