# Build the training image and record its ID; a checkpoint because the ID is part of the bundle hash,
# so the bundle path is computed only after this rule has run.
checkpoint build_container:
    output:
        image_id=f"{WORK}/{{key}}/image_id",
    log:
        f"{WORK}/{{key}}/build_container.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        variant=config["container_variant"],
    shell:
        "{params.cli} container build --variant {params.variant} > {output.image_id} 2> {log} "
        "|| {{ cat {log} >&2; exit 1; }}"
