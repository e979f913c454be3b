# Fetch the tokenizer and data the experiment reads into the asset cache and pin them (repository, the
# commit a branch resolved to, sha256 of every file). A checkpoint because the pins are part of the bundle
# hash: the bundle path is known once this has run. Cache hits make no request.
checkpoint fetch_assets:
    input:
        stamp=lambda wc: validated_stamp(run_of_key(wc)),
    output:
        record=f"{WORK}/{{key}}/assets.json",
    log:
        f"{WORK}/{{key}}/fetch_assets.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        exp=lambda wc: run_of_key(wc).cli_args,
    shell:
        "{params.cli} assets fetch {params.exp} > {output.record:q} 2> {log:q} "
        "|| {{ status=$?; cat {log:q} >&2; exit $status; }}"
