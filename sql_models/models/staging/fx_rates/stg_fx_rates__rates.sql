-- Reference FX rates (units of currency per 1 USD), one row per (rate_date, currency).
with

source as (

    {{ raw_source('fx_rates', 'rates', [
        ['rate_date', 'date'],
        ['base', 'string'],
        ['currency', 'string'],
        ['rate', 'double'],
        ['published_date', 'date'],
        ['_load_id', 'string'],
    ]) }}

),

typed as (

    select
        cast(rate_date as date) as rate_date,
        upper(currency) as currency,
        cast(rate as decimal(18, 8)) as rate,
        -- the day whose rate this is: a weekend or not-yet-published date is answered with an earlier one
        cast(coalesce(published_date, rate_date) as date) as fx_rate_date,
        _load_id,
        row_number() over (
            partition by cast(rate_date as date), upper(currency)
            order by _load_id desc
        ) as pull_rank
    from source
    where upper(base) = 'USD'

),

final as (

    select
        rate_date,
        currency,
        rate,
        fx_rate_date,
        _load_id
    from typed
    where pull_rank = 1

)

select * from final
