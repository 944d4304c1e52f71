"""Catalog entries: shapes give the published parameter counts; strict validation; lookups name alternatives."""

import pytest
from pydantic import ValidationError

from models import ModelError
from models.catalog import ACCELERATORS, MODELS, TransformerModel, accelerator, cpu_server, transformer


@pytest.mark.parametrize("name, billions", [("llama3-1b", 1.24), ("llama3-8b", 8.03), ("llama3-70b", 70.55),
                                            ("llama3-405b", 405.85), ("llama2-7b", 6.74), ("llama2-70b", 68.98),
                                            ("encoder-120m", 0.109)])
def test_parameter_counts_match_published_sizes(name, billions):
    assert transformer(name).params / 1e9 == pytest.approx(billions, rel=0.01)


def test_kv_values_per_token_gqa():
    m = transformer("llama3-70b")  # 80 layers x (K, V) x 8 KV heads x 128 dims
    assert m.kv_values_per_token() == 80 * 2 * 8 * 128


def test_every_entry_cites_a_source():
    for table in (ACCELERATORS, MODELS):
        for entry in table.values():
            assert entry.source.strip()


def test_paper_xpus_match_table_2():
    c = accelerator("XPU-C")
    assert (c.peak_tflops["bf16"], c.hbm_bytes, c.hbm_bytes_per_s, c.interconnect_bytes_per_s) == (
        459, 96e9, 2765e9, 600e9)
    assert cpu_server("epyc-milan-96c").cores == 96


def test_unknown_names_list_alternatives():
    with pytest.raises(ModelError, match=r"unknown accelerator 'XPU-Z'. To fix: use one of .*XPU-C"):
        accelerator("XPU-Z")
    with pytest.raises(ModelError, match="llama3-70b"):
        transformer("llama-9000")


def test_shape_validation_carries_numbers():
    with pytest.raises(ValidationError, match="hidden 100 is not a multiple of heads 3"):
        TransformerModel(name="bad", layers=1, hidden=100, heads=3, kv_heads=1, ffn=4, vocab=4, source="test")
    with pytest.raises(ValidationError, match="extra"):
        TransformerModel(name="bad", layers=1, hidden=8, heads=2, kv_heads=2, ffn=4, vocab=4, source="t", x=1)
