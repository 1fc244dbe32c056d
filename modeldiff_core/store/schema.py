"""The database's schema: the migrations that build it, in order (the package's only DDL)."""

SCHEMA_VERSION = 16

# Each entry migrates the schema from version i to i+1; never edit a released entry.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP,
            status VARCHAR, model_a VARCHAR, model_b VARCHAR, spec_a VARCHAR, spec_b VARCHAR,
            fingerprint_a VARCHAR, fingerprint_b VARCHAR, prompt_set VARCHAR,
            settings VARCHAR, cluster_settings VARCHAR)""",
        """CREATE TABLE prompts (
            run_id VARCHAR, prompt_id INTEGER, prompt VARCHAR, split VARCHAR,
            PRIMARY KEY (run_id, prompt_id))""",
        """CREATE TABLE generations (
            run_id VARCHAR, side VARCHAR, prompt_id INTEGER, sample_idx INTEGER, text VARCHAR,
            n_tokens INTEGER, finish_reason VARCHAR, created_at TIMESTAMP,
            PRIMARY KEY (run_id, side, prompt_id, sample_idx))""",
        """CREATE TABLE embeddings (
            embedder VARCHAR, text_hash VARCHAR, vector FLOAT[],
            PRIMARY KEY (embedder, text_hash))""",
        """CREATE TABLE points (
            run_id VARCHAR, side VARCHAR, prompt_id INTEGER, sample_idx INTEGER,
            cluster_id INTEGER, x DOUBLE, y DOUBLE,
            PRIMARY KEY (run_id, side, prompt_id, sample_idx))""",
        """CREATE TABLE clusters (
            run_id VARCHAR, cluster_id INTEGER, size_a INTEGER, size_b INTEGER, share_b DOUBLE,
            log_odds DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE,
            top_terms VARCHAR, PRIMARY KEY (run_id, cluster_id))""",
        """CREATE TABLE jobs (
            job_id VARCHAR PRIMARY KEY, kind VARCHAR, run_id VARCHAR, status VARCHAR,
            stage VARCHAR, done INTEGER, total INTEGER, rate DOUBLE, message VARCHAR,
            params VARCHAR, error VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP)""",
        """CREATE TABLE results (
            run_id VARCHAR PRIMARY KEY, result VARCHAR, updated_at TIMESTAMP)""",
    ],
    [
        """CREATE TABLE hypotheses (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, position INTEGER,
            text VARCHAR, direction VARCHAR, source VARCHAR, predicate VARCHAR, evidence VARCHAR,
            created_at TIMESTAMP, PRIMARY KEY (run_id, assistant, hypothesis_id))""",
        """CREATE TABLE validations (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, test VARCHAR,
            result VARCHAR, p_value DOUBLE, n INTEGER, q_value DOUBLE, validated BOOLEAN,
            alpha DOUBLE, created_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant, hypothesis_id, test))""",
    ],
    [
        """CREATE TABLE assistant_cache (
            cache_key VARCHAR PRIMARY KEY, provider VARCHAR, model VARCHAR, response VARCHAR,
            created_at TIMESTAMP)""",
        """CREATE TABLE assistant_calls (
            call_id VARCHAR PRIMARY KEY, run_id VARCHAR, provider VARCHAR, model VARCHAR,
            purpose VARCHAR, input_tokens INTEGER, output_tokens INTEGER, cost_usd DOUBLE,
            cached BOOLEAN, created_at TIMESTAMP)""",
    ],
    [
        """CREATE TABLE run_failures (
            run_id VARCHAR, assistant VARCHAR, failures VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
    [
        """CREATE TABLE annotations (
            run_id VARCHAR, assistant VARCHAR, hypothesis_id VARCHAR, verdict VARCHAR,
            note VARCHAR, updated_at TIMESTAMP, PRIMARY KEY (run_id, assistant, hypothesis_id))""",
    ],
    [
        """CREATE TABLE finetunes (
            finetune_id VARCHAR PRIMARY KEY, base VARCHAR, truths VARCHAR, data_recipe VARCHAR,
            settings VARCHAR, status VARCHAR, adapter_path VARCHAR, final_loss DOUBLE,
            created_at TIMESTAMP, updated_at TIMESTAMP)""",
        """CREATE TABLE training_texts (
            finetune_id VARCHAR, idx INTEGER, truth VARCHAR, prompt VARCHAR, response VARCHAR,
            source VARCHAR, PRIMARY KEY (finetune_id, idx))""",
        """CREATE TABLE truth_scores (
            run_id VARCHAR, assistant VARCHAR, matcher VARCHAR, truths VARCHAR, result VARCHAR,
            updated_at TIMESTAMP, PRIMARY KEY (run_id, assistant, matcher))""",
    ],
    [
        """CREATE TABLE quant_studies (
            study_id VARCHAR PRIMARY KEY, model VARCHAR, spec VARCHAR, reference VARCHAR,
            eval_set VARCHAR, n_texts INTEGER, created_at TIMESTAMP)""",
        """CREATE TABLE quant_levels (
            study_id VARCHAR, level VARCHAR, metrics VARCHAR, created_at TIMESTAMP,
            PRIMARY KEY (study_id, level))""",
        """CREATE TABLE layer_lens (
            run_id VARCHAR, assistant VARCHAR, result VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
    [
        """CREATE TABLE layer_settings (
            setting_key VARCHAR PRIMARY KEY, logprobs VARCHAR, texts VARCHAR,
            created_at TIMESTAMP)""",
    ],
    [
        # Prompt-level inference: prompt groups for the split, a prompt-level cluster test
        # beside Fisher's, the discovery-only cluster table that proposal reads, and the
        # held-out sample of texts paired by prompt (chosen once per run and budget).
        "ALTER TABLE prompts ADD COLUMN prompt_group VARCHAR",
        "ALTER TABLE clusters ADD COLUMN fisher_p DOUBLE",
        "ALTER TABLE clusters ADD COLUMN n_prompts INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_size_a INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_size_b INTEGER",
        "ALTER TABLE clusters ADD COLUMN disc_log_odds DOUBLE",
        "ALTER TABLE clusters ADD COLUMN disc_p_value DOUBLE",
        "ALTER TABLE clusters ADD COLUMN disc_q_value DOUBLE",
        """CREATE TABLE heldout (
            run_id VARCHAR, budget INTEGER, prompt_id INTEGER, sample_idx INTEGER,
            position INTEGER, PRIMARY KEY (run_id, budget, prompt_id, sample_idx))""",
    ],
    [
        # What a hypothesis set was proposed and validated with (cluster settings and the
        # rest), so that changing them makes a new set instead of mixing with the old one.
        """CREATE TABLE hypothesis_settings (
            run_id VARCHAR, assistant VARCHAR, settings VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, assistant))""",
    ],
    [
        # One name per concept: the column that names a hypothesis set was called `assistant`
        # (after the assistant that proposed the set); assistant_cache and assistant_calls
        # keep theirs, they are about calls. DuckDB renames a primary-key column in place.
        "ALTER TABLE hypotheses RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE validations RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE run_failures RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE annotations RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE truth_scores RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE layer_lens RENAME COLUMN assistant TO hypothesis_set",
        "ALTER TABLE hypothesis_settings RENAME COLUMN assistant TO hypothesis_set",
    ],
    [
        # The probe game, one row per round as it finishes (a game resumes at its first
        # missing round). `arm`: the hypothesis, or the empty-hypothesis control; `settings`:
        # what else the game depends on (answers per probe, examples shown, seed), so games
        # played with other settings never mix.
        """CREATE TABLE probe_rounds (
            run_id VARCHAR, hypothesis_set VARCHAR, hypothesis_id VARCHAR, settings VARCHAR,
            arm VARCHAR, game INTEGER, round INTEGER, probe VARCHAR, hidden VARCHAR,
            answers VARCHAR, guess VARCHAR, confidence DOUBLE, created_at TIMESTAMP,
            PRIMARY KEY (run_id, hypothesis_set, hypothesis_id, settings, arm, game, round))""",
    ],
    [
        # The feature lens of a run, as its result (its scaling settings' outcomes are kept
        # with the layer lens's, in layer_settings, under keys of their own).
        """CREATE TABLE feature_lens (
            run_id VARCHAR, hypothesis_set VARCHAR, result VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, hypothesis_set))""",
    ],
    [
        # A run's own false-positive check: the same proposal and validation on A's samples
        # split into two pseudo-models, A1 against A2, as one result per hypothesis set.
        """CREATE TABLE self_checks (
            run_id VARCHAR, hypothesis_set VARCHAR, result VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, hypothesis_set))""",
    ],
    [
        # One table for every method's result on a run: (run, method, hypothesis set) -> the
        # result's JSON, with a digest of the settings that made it. The layer and feature
        # lenses' own tables move into it. (What a method resumes from, row by row, stays in
        # its tables: quant_levels, probe_rounds, layer_settings.)
        """CREATE TABLE method_results (
            run_id VARCHAR, method VARCHAR, hypothesis_set VARCHAR, settings_digest VARCHAR,
            result VARCHAR, updated_at TIMESTAMP,
            PRIMARY KEY (run_id, method, hypothesis_set))""",
        """INSERT INTO method_results SELECT run_id, 'layers', hypothesis_set, NULL, result,
            updated_at FROM layer_lens""",
        """INSERT INTO method_results SELECT run_id, 'features', hypothesis_set, NULL, result,
            updated_at FROM feature_lens""",
        "DROP TABLE layer_lens",
        "DROP TABLE feature_lens",
    ],
    [
        # When the job's current stage started, and how long each finished stage took (JSON,
        # by stage number): a page's overall estimate comes from earlier jobs' stage times.
        "ALTER TABLE jobs ADD COLUMN stage_started TIMESTAMP",
        "ALTER TABLE jobs ADD COLUMN stage_times VARCHAR",
    ],
]
# Every table keyed by a hypothesis set (run_id, hypothesis_set): a set moves with all of them.
HYPOTHESIS_SET_TABLES = ("hypotheses", "validations", "run_failures", "annotations",
                         "truth_scores", "hypothesis_settings", "probe_rounds", "self_checks",
                         "method_results")
