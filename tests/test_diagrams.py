"""The course's figures: they render, read in the right language and keep the visual language."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from vizlib import diagrams
from vizlib.diagrams import ALL_FIGURES, ARTICLE_FIGURES, LANGS, LAYERS, legend
from vizlib.diagrams.style import add_node, new_graph, privilege
from vizlib.i18n import _, use

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
NODE = re.compile(r"^\t+(\w+) \[(.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\t+(\w+) -> (\w+)", re.MULTILINE)
BARE_NODE = re.compile(r"^\t+(\w+)$", re.MULTILINE)
FILL = re.compile(r'fillcolor="([^"]*)"')
CLUSTER_LABEL = re.compile(r'^\t+fontname=.* label=("[^"]*"|\S+) ', re.MULTILINE)
EDGE_LABEL = re.compile(r'-> \w+ \[label="([^"]*)"')
SVG_WIDTH = re.compile(r'<svg width="([\d.]+)pt"')
# A notebook cell is about 800 px wide: 600 pt (derived: 800 px * 72 pt / 96 px).
MAX_WIDTH_PT = 600

CASES = [(name, lang) for name in ALL_FIGURES for lang in LANGS]
IDS = [f"{name}-{lang}" for name, lang in CASES]


def html_label(attrs: str) -> str:
    """The words of the HTML label that starts a node's attributes, tags removed."""
    assert attrs.startswith("label=<"), attrs
    depth = 0
    for end, char in enumerate(attrs):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == ">" and depth == 0:
            return " ".join(re.sub(r"<[^>]*>", " ", attrs[len("label=<") : end]).split())
    raise AssertionError(f"unbalanced label: {attrs}")


def node_statements(source: str) -> dict[str, str]:
    """Node id -> attributes, for every node statement with attributes."""
    return {
        node_id: attrs
        for node_id, attrs in NODE.findall(source)
        if node_id not in {"graph", "node", "edge"}
    }


def visible_texts(source: str) -> list[str]:
    """Node labels, cluster titles and edge labels of a DOT source."""
    texts = [html_label(attrs) for attrs in node_statements(source).values()]
    texts += [label.strip('"') for label in CLUSTER_LABEL.findall(source)]
    return texts + [label.strip() for label in EDGE_LABEL.findall(source)]


def render_svg(source: str) -> str:
    """SVG from Graphviz's `dot`, which must succeed without a warning; skip if it is absent."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` binary is not installed (apt/conda package `graphviz`)")
    result = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize(("name", "lang"), CASES, ids=IDS)
def test_renders_to_svg_within_notebook_width(name, lang):
    svg = render_svg(ALL_FIGURES[name](lang).source)
    width = float(SVG_WIDTH.search(svg).group(1))
    assert 100 < width <= MAX_WIDTH_PT


@pytest.mark.parametrize(("name", "lang"), CASES, ids=IDS)
def test_source_is_deterministic(name, lang):
    assert ALL_FIGURES[name](lang).source == ALL_FIGURES[name](lang).source


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_english_has_no_chinese_and_chinese_translates_every_text(name):
    english = ALL_FIGURES[name]("en").source
    chinese = ALL_FIGURES[name]("zh").source
    assert not CJK.search(english)
    en_nodes, zh_nodes = node_statements(english), node_statements(chinese)
    assert en_nodes.keys() == zh_nodes.keys()
    for node_id, attrs in zh_nodes.items():
        zh_text, en_text = html_label(attrs), html_label(en_nodes[node_id])
        # A label without Chinese must be a technical name kept as is (QEMU, kvm.ko, /dev/kvm).
        assert CJK.search(zh_text) or zh_text == en_text, (node_id, zh_text)
    texts = visible_texts(chinese)
    assert sum(bool(CJK.search(text)) for text in texts) > len(texts) / 2


@pytest.mark.parametrize(("name", "lang"), CASES, ids=IDS)
def test_comment_is_one_sentence_in_the_figure_language(name, lang):
    comment = ALL_FIGURES[name](lang).comment
    assert "\n" not in comment and len(comment) > 40
    if lang == "en":
        assert re.fullmatch(r"[A-Z][^!?]*\.", comment), comment
        assert not re.search(r"[.!?]\s", comment), comment
        assert not CJK.search(comment)
    else:
        assert comment.endswith("。") and comment.count("。") == 1, comment
        assert not re.search(r"[！？!?]", comment), comment


@pytest.mark.parametrize("figure", [*ALL_FIGURES.values(), legend], ids=[*ALL_FIGURES, "legend"])
@pytest.mark.parametrize("bad", ["fr", "EN", ""])
def test_bad_lang_raises_value_error_naming_the_choices(figure, bad):
    with pytest.raises(ValueError, match=r"lang must be one of 'en', 'zh'"):
        figure(bad)


@pytest.mark.parametrize("figure", [*ALL_FIGURES.values(), legend], ids=[*ALL_FIGURES, "legend"])
def test_without_lang_a_figure_speaks_the_course_language(figure):
    assert figure().source == figure("en").source
    with use("zh"):
        assert figure().source == figure(lang="zh").source
        assert figure("en").source == figure(lang="en").source  # an explicit lang still wins


@pytest.mark.parametrize(("name", "lang"), CASES, ids=IDS)
def test_every_node_is_filled_with_a_layer_colour(name, lang):
    source = ALL_FIGURES[name](lang).source
    nodes = node_statements(source)
    referenced = {i for pair in EDGE.findall(source) for i in pair}
    referenced |= set(BARE_NODE.findall(source)) - {"rank"}
    assert referenced <= nodes.keys(), referenced - nodes.keys()
    layer_colours = set(LAYERS.values())
    for node_id, attrs in nodes.items():
        fill = FILL.search(attrs)
        assert fill, f"{node_id} has no fillcolor"
        colours = {part.split(";")[0] for part in fill.group(1).split(":")}
        assert colours <= layer_colours, (node_id, colours)


def test_article_figures_are_the_five_in_order():
    assert list(ARTICLE_FIGURES) == [1, 2, 3, 4, 5]
    assert [f.__name__ for f in ARTICLE_FIGURES.values()] == [
        "full_virtualization",
        "paravirtualization",
        "kvm_architecture",
        "xen_architecture",
        "kvm_qemu_relationship",
    ]


def test_all_figures_maps_each_name_to_its_public_function():
    assert set(ARTICLE_FIGURES.values()) < set(ALL_FIGURES.values())
    assert {"hypervisor_types", "hardware_emulation"} < ALL_FIGURES.keys()
    for name, figure in ALL_FIGURES.items():
        assert figure.__name__ == name and getattr(diagrams, name) is figure
        assert figure().name == name


def test_layer_colours_are_distinct_and_named_in_both_languages():
    assert len(set(LAYERS.values())) == len(LAYERS) == 7
    assert diagrams.LAYER_NAMES.keys() == LAYERS.keys()
    assert not any(CJK.search(name) for name in diagrams.LAYER_NAMES.values())
    with use("zh"):
        assert all(CJK.search(_(name)) for name in diagrams.LAYER_NAMES.values())


@pytest.mark.parametrize("lang", LANGS)
def test_legend_shows_every_layer_and_nests_in_a_figure(lang):
    fills = FILL.findall(legend(lang).source)
    assert fills == list(LAYERS.values())
    chosen = legend(lang, ["hypervisor", "hardware"]).source
    assert FILL.findall(chosen) == [LAYERS["hypervisor"], LAYERS["hardware"]]
    figure = ALL_FIGURES["full_virtualization"](lang)
    figure.subgraph(legend(lang))
    assert "subgraph cluster_legend" in figure.source
    with use(lang):
        hardware = _(diagrams.LAYER_NAMES["hardware"])
    assert render_svg(figure.source).count(f">{hardware}</text>") == 2  # figure and legend


def test_legend_rejects_unknown_layers():
    with pytest.raises(ValueError, match="layers must be among"):
        legend("en", ["firmware"])


def test_style_rejects_unknown_layer_kind_and_mark():
    g = new_graph("g", "A test graph.")
    with pytest.raises(ValueError, match="layer must be among"):
        add_node(g, "a", "A", kind="layer", layer="firmware")
    with pytest.raises(ValueError, match="kind must be one of"):
        add_node(g, "a", "A", kind="cloud", layer="hardware")
    with pytest.raises(ValueError, match="marks must be among"):
        privilege("ring2")


def test_a_node_in_two_layers_is_striped_with_both_colours():
    g = new_graph("g", "A test graph.")
    add_node(g, "kvm", "Linux + kvm.ko", kind="layer", layer=("host_kernel", "hypervisor"))
    assert "style=striped" in g.source
    assert f'fillcolor="{LAYERS["host_kernel"]};0.500:{LAYERS["hypervisor"]};0.500"' in g.source
