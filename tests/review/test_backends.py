"""The review backend registry and ``review.backend``: lookup, refusals, building a backend from a config."""

from __future__ import annotations

import pytest

from tagscan.config import ReviewConfig
from tagscan.errors import ConfigError
from tagscan.review import ReviewBackend, available_backends, backend_from_config, get_backend
from tagscan.review.backends import register
from tagscan.review.backends.label_studio import LabelStudioBackend


def test_label_studio_is_the_default_and_registered():
    assert ReviewConfig().backend == "label_studio"
    assert get_backend("label_studio") is LabelStudioBackend
    assert available_backends() == {"label_studio": LabelStudioBackend}


def test_unknown_backend_names_the_key_the_close_name_and_the_valid_ones():
    with pytest.raises(
        ConfigError,
        match=r"^cfg.yaml: key 'review.backend': unknown review backend 'labelstudio'; did you mean 'label_studio'\? "
        r"valid backends: label_studio; set review.backend to one of them$",
    ):
        get_backend("labelstudio", source="cfg.yaml")
    with pytest.raises(ConfigError, match=r"^key 'review.backend': unknown review backend 'prodigy'; valid backends: label_studio;"):
        get_backend("prodigy")
    with pytest.raises(ConfigError, match="unknown review backend 'cvat'"):
        backend_from_config(ReviewConfig(backend="cvat"), source="cfg.yaml", environ={"LABEL_STUDIO_API_KEY": "k"})


def test_register_refuses_a_taken_name_and_a_nameless_class():
    class Impostor:
        name = "label_studio"

    with pytest.raises(ValueError, match="a review backend named 'label_studio' is already registered \\(LabelStudioBackend\\)"):
        register(Impostor)
    assert register(LabelStudioBackend) is LabelStudioBackend  # the same class again is harmless

    class Nameless:
        pass

    with pytest.raises(ValueError, match="review backend class Nameless has no name"):
        register(Nameless)
    assert available_backends() == {"label_studio": LabelStudioBackend}


def test_from_config_reads_the_environment_at_call_time(tmp_path):
    review = ReviewConfig(url="http://127.0.0.1:1/", api_key_env="MY_LS_KEY")
    b = backend_from_config(review, source="cfg.yaml", environ={"MY_LS_KEY": "secret-token", "TAGSCAN_LS_FILES_ROOT": str(tmp_path)})
    assert isinstance(b, LabelStudioBackend) and isinstance(b, ReviewBackend)
    assert (b.url, b.api_key_env, b.files_root) == ("http://127.0.0.1:1", "MY_LS_KEY", str(tmp_path))
    assert "secret-token" not in repr(b)
    assert backend_from_config(review, environ={"MY_LS_KEY": "k"}).files_root is None


@pytest.mark.parametrize("value", [None, "", "  "])
def test_from_config_without_a_key_is_a_config_error(value):
    env = {} if value is None else {"LABEL_STUDIO_API_KEY": value}
    with pytest.raises(ConfigError) as exc:
        backend_from_config(ReviewConfig(), source="cfg.yaml", environ=env)
    assert str(exc.value) == (
        "no Label Studio API key: the environment variable LABEL_STUDIO_API_KEY (review.api_key_env in cfg.yaml) "
        "is empty or unset; set it to your token (Label Studio: Account & Settings > Access Token)"
    )
    assert exc.value.exit_code == 2


def test_review_backend_key_in_a_config_file(tmp_path):
    from tagscan.config import load_config

    (tmp_path / "s.parquet").write_bytes(b"")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\ndata: {samples: s.parquet, predictions: s.parquet}\nreview: {backend: label_studio}\n")
    assert load_config(cfg).review.backend == "label_studio"
    cfg.write_text("name: t\ndata: {samples: s.parquet, predictions: s.parquet}\nreview: {backend: ''}\n")
    with pytest.raises(ConfigError, match="key 'review.backend'"):
        load_config(cfg)
