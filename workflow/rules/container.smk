# Build the training image and record its ID; a checkpoint because the ID is part of the bundle hash,
# so the bundle paths are computed only after this rule has run. One image serves every run.
checkpoint build_container:
    output:
        image_id=f"{IMAGES}/{{variant}}/image_id",
    log:
        f"{IMAGES}/{{variant}}/build_container.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
    shell:
        # The image ID is the last line primus-cli prints; everything else goes to the log.
        "{params.cli} container build --variant {wildcards.variant:q} 2> {log:q} | tee -a {log:q} "
        "| tail -n 1 > {output.image_id:q} || {{ cat {log:q} >&2; exit 1; }}; test -s {output.image_id:q}"
