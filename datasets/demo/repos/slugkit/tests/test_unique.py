from slugkit import UniqueSlugger


def test_counts_up():
    slugger = UniqueSlugger()
    assert [slugger.slug("Post") for _ in range(3)] == ["post", "post-2", "post-3"]
    assert len(slugger) == 3


def test_preexisting_slugs():
    slugger = UniqueSlugger(used=["post", "post-2"])
    assert slugger.slug("Post") == "post-3"


def test_fallback_for_empty_slug():
    slugger = UniqueSlugger()
    assert slugger.slug("!!!") == "item"
    assert slugger.slug("???") == "item-2"


def test_release():
    slugger = UniqueSlugger()
    slugger.slug("Post")
    slugger.release("post")
    assert "post" not in slugger
    assert slugger.slug("Post") == "post"


def test_suffix_respects_max_length():
    slugger = UniqueSlugger(max_length=8)
    assert slugger.slug("Abcdefgh") == "abcdefgh"
    assert slugger.slug("Abcdefgh") == "abcdef-2"


def test_custom_separator():
    slugger = UniqueSlugger(separator="_")
    assert slugger.slug("My Post") == "my_post"
    assert slugger.slug("My Post") == "my_post_2"
