from app.catalog.textquery import Term, fts5_match_expression, parse_text_query


def test_words_are_required_terms_and_the_last_one_is_a_prefix_while_typing():
    assert parse_text_query("movie revi") == [Term(("movie",)), Term(("revi",), prefix=True)]


def test_a_trailing_space_means_the_last_word_is_complete():
    assert parse_text_query("movie ") == [Term(("movie",))]


def test_quoted_words_become_a_phrase():
    terms = parse_text_query('"question answering" medical')
    assert terms == [Term(("question", "answering"), phrase=True), Term(("medical",), prefix=True)]


def test_an_unbalanced_quote_still_searches_the_words():
    assert [t.words for t in parse_text_query('"speech recog')] == [("speech", "recog")]


def test_operators_and_punctuation_never_survive_as_syntax():
    hostile = 'a* OR "b" NEAR(c) -d : e^ {f} \'; DROP TABLE datasets;--'
    for term in parse_text_query(hostile):
        for word in term.words:
            assert word.isalnum()
    expression = fts5_match_expression(parse_text_query(hostile))
    assert "(" not in expression and ";" not in expression


def test_repo_ids_split_into_words():
    assert [t.words for t in parse_text_query("rajpurkar/squad_v2")] == [
        ("rajpurkar",),
        ("squad",),
        ("v2",),
    ]


def test_unicode_words_are_kept():
    assert parse_text_query("données  ") == [Term(("données",))]


def test_nothing_searchable_gives_no_terms():
    assert parse_text_query('*** "" :: --') == []


def test_the_number_of_terms_is_bounded():
    assert len(parse_text_query("word " * 100)) == 12


def test_fts5_expression_quotes_every_word():
    expression = fts5_match_expression(parse_text_query('"natural language" infer'))
    assert expression == '"natural language" "infer"*'


def test_a_single_letter_is_not_a_prefix():
    assert parse_text_query("t") == [Term(("t",))]
    assert parse_text_query("mo") == [Term(("mo",), prefix=True)]
