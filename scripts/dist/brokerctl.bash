# bash completion for brokerctl (installed as
# share/bash-completion/completions/brokerctl). The commands and options
# follow `brokerctl --help`; tests/integration/test_install.py checks
# that every command there is offered here.

_brokerctl_topics()
{
    # Topic names from the broker given on the line (or the default), quietly.
    local bs=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            -b | --bootstrap-server) bs=(-b "${COMP_WORDS[i + 1]}") ;;
        esac
    done
    brokerctl "${bs[@]}" --timeout-ms 2000 topic list 2>/dev/null |
        awk 'NR > 1 { print $1 }'
}

_brokerctl()
{
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    local global="-b --bootstrap-server --json --timeout-ms -h --help --version"

    case $prev in
        -b | --bootstrap-server | --timeout-ms | --partitions | \
            --replication-factor | -p | --partition | -c | -K | -H | \
            --from-time | --to-offset | --to-datetime | --shift-by | \
            --replicas | --broker | --delete-config | --config | --state | \
            --allow-principal | --deny-principal | --allow-host | \
            --deny-host | --principal | --user | --client-id | --ip | \
            --iterations | --password | --start-offset | -f)
            return ;;
        --topic | produce | consume)
            COMPREPLY=($(compgen -W "$(_brokerctl_topics)" -- "$cur"))
            return ;;
        --acks)
            COMPREPLY=($(compgen -W "all 1 0" -- "$cur"))
            return ;;
        -z)
            COMPREPLY=($(compgen -W "none gzip snappy lz4 zstd" -- "$cur"))
            return ;;
        -o)
            COMPREPLY=($(compgen -W "beginning end" -- "$cur"))
            return ;;
        --type)
            COMPREPLY=($(compgen -W "preferred unclean" -- "$cur"))
            return ;;
        --mechanism)
            COMPREPLY=($(compgen -W "SCRAM-SHA-256 SCRAM-SHA-512" -- "$cur"))
            return ;;
    esac

    # The command and subcommand: the first two words that are not options
    # or option values.
    local cmd="" sub="" i w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            -b | --bootstrap-server | --timeout-ms) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    cmd=$w
                elif [[ -z $sub ]]; then
                    sub=$w
                fi ;;
        esac
    done

    local opts=""
    case $cmd in
        "")
            COMPREPLY=($(compgen -W "cluster topic config produce consume group partition quorum acl quota user txn $global" -- "$cur"))
            return ;;
        cluster) [[ -z $sub ]] && opts="info" ;;
        topic)
            case $sub in
                "") opts="create list describe delete alter" ;;
                create) opts="--partitions --replication-factor --config" ;;
                alter) opts="--partitions --config --delete-config" ;;
            esac
            if [[ -n $sub && $sub != list && $cur != -* ]]; then
                COMPREPLY=($(compgen -W "$(_brokerctl_topics)" -- "$cur"))
                return
            fi ;;
        config)
            if [[ -z $sub ]]; then
                opts="get set delete"
            else
                opts="--topic --broker --broker-defaults"
            fi ;;
        produce) opts="-p -K -H --acks -z" ;;
        consume) opts="-p -o --from-time -c -f --follow" ;;
        group)
            case $sub in
                "") opts="list describe reset-offsets delete" ;;
                list) opts="--state" ;;
                reset-offsets) opts="--topic --to-earliest --to-latest --to-offset --to-datetime --shift-by --dry-run" ;;
            esac ;;
        partition)
            case $sub in
                "") opts="elect-leaders reassign reassignments" ;;
                elect-leaders) opts="--type --topic --partition" ;;
                reassign) opts="--topic --partition --replicas --cancel" ;;
            esac ;;
        quorum) [[ -z $sub ]] && opts="add-controller remove-controller" ;;
        acl)
            case $sub in
                "") opts="add list remove" ;;
                *) opts="--allow-principal --deny-principal --allow-host --deny-host --operation --topic --group --cluster --transactional-id --resource-pattern-type --principal --producer --consumer --idempotent" ;;
            esac ;;
        quota)
            case $sub in
                "") opts="set remove list" ;;
                *) opts="--user --user-default --client-id --client-default --ip --ip-default" ;;
            esac ;;
        txn)
            case $sub in
                "") opts="list describe abort" ;;
                list) opts="--state" ;;
                abort) opts="--topic --partition --start-offset" ;;
            esac ;;
        user)
            case $sub in
                "") opts="create delete list" ;;
                create) opts="--mechanism --iterations --password" ;;
                delete) opts="--mechanism" ;;
            esac ;;
    esac
    COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
}
complete -F _brokerctl brokerctl
