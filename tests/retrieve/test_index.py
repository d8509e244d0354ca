def test_the_hnsw_beam_widens_with_the_index() -> None:
    from stepcache.retrieve.index import HNSW_EF_SEARCH, ef_search_for

    assert ef_search_for(10_000) == HNSW_EF_SEARCH
    assert ef_search_for(199_999) == HNSW_EF_SEARCH
    assert ef_search_for(200_000) > HNSW_EF_SEARCH
    assert ef_search_for(1_000_000) > ef_search_for(200_000)
